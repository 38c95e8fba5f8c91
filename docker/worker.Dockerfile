# syntax=docker/dockerfile:1
# The planned separate inference tier: TensorFlow Serving over the SavedModels exported into
# models/<name>/saved_model/ by `python -m inference.train`. Optional: compose starts it only with
# `--profile tfserving`. Today the game server still runs its own LiteRT worker pool
# (inference/pool.py); see docs/scaling.md for when and how to switch.
#
#   docker build -f docker/worker.Dockerfile -t doodle-quest/tfserving .    # from the repo root
#
# gRPC on 8500, REST on 8501 (GET /v1/models/<name>, POST /v1/models/<name>:predict).

# Stage 1: lay the models out as TF Serving wants them (<name>/<version>/) and write
# models.config and batching.config (docker/tfserving_models.py, standard library only).
FROM python:3.11.14-slim-bookworm AS layout
WORKDIR /src
COPY docker/tfserving_models.py ./
COPY models/ models/
RUN python tfserving_models.py --models-dir models --out /out --base-path /models --copy

# Stage 2: TF Serving, pinned. Keep it at (or just below) the TensorFlow that exported the models
# (tensorflow-cpu in constraints.txt): 2.20.0 is the newest release seen when this was written.
FROM tensorflow/serving:2.20.0
COPY --from=layout /out/ /models/
COPY docker/tfserving_healthcheck.sh /usr/local/bin/tfserving_healthcheck.sh
# nobody: the server only reads /models.
USER 65534:65534
EXPOSE 8500 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tfserving_healthcheck.sh"]
ENTRYPOINT ["tensorflow_model_server"]
CMD ["--port=8500", "--rest_api_port=8501", \
     "--model_config_file=/models/models.config", \
     "--enable_batching=true", "--batching_parameters_file=/models/batching.config"]
