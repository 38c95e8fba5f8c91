/* The worker's per-stroke arithmetic in C: what `inference.raster.IncrementalRaster` and
 * `inference.sequence.encode_flat` otherwise do in Python loops over a stroke's points.
 *
 * Every function here is a drop-in for a pure-Python (or numpy) twin in those modules and must
 * give the same bits: the same IEEE double operations in the same order, no fused multiply-add
 * (setup.py compiles with -ffp-contract=off), and libm's hypot, which is what np.hypot calls.
 * tests/inference/test_fastpath.py holds each function to its twin. Anything unusual (a numpy
 * array, a bool, a ragged or non-finite stroke) is left to the Python code, which owns the error
 * messages: `points` answers None and the caller falls back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* Above this, (x - a) * d can overflow; raster.py sends such strokes to numpy. */
#define MAX_ABS 1e150

static int
as_double(PyObject *v, double *out)
{
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return 1;
    }
    if (PyLong_CheckExact(v)) {
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        *out = d;
        return 1;
    }
    return 0;
}

PyDoc_STRVAR(points_doc,
"points(stroke) -> (xs: bytes, ys: bytes, min_x, min_y, max_x, max_y) or None\n\n"
"A stroke given as a list or tuple of points, each a list or tuple of the same length >= 2\n"
"holding only floats and ints, all x and y finite: its x's and y's as packed doubles and its\n"
"box (min and max as Python's min() and max() pick them). None for anything else.");

static PyObject *
points(PyObject *self, PyObject *stroke)
{
    if (!PyList_CheckExact(stroke) && !PyTuple_CheckExact(stroke))
        Py_RETURN_NONE;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(stroke);
    if (n == 0)
        Py_RETURN_NONE;
    PyObject *bx = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    PyObject *by = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    if (bx == NULL || by == NULL) {
        Py_XDECREF(bx);
        Py_XDECREF(by);
        return NULL;
    }
    double *xs = (double *)PyBytes_AS_STRING(bx);
    double *ys = (double *)PyBytes_AS_STRING(by);
    PyObject **items = PySequence_Fast_ITEMS(stroke);
    Py_ssize_t width = -1;
    double mnx = 0, mny = 0, mxx = 0, mxy = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = items[i];
        if (!PyList_CheckExact(p) && !PyTuple_CheckExact(p))
            goto other;
        Py_ssize_t m = PySequence_Fast_GET_SIZE(p);
        if (width < 0)
            width = m;
        if (m != width || m < 2)
            goto other;
        PyObject **c = PySequence_Fast_ITEMS(p);
        double x, y, rest;
        if (!as_double(c[0], &x) || !as_double(c[1], &y) || !isfinite(x) || !isfinite(y))
            goto other;
        for (Py_ssize_t j = 2; j < m; j++)
            if (!as_double(c[j], &rest))
                goto other;
        xs[i] = x;
        ys[i] = y;
        if (i == 0) {
            mnx = mxx = x;
            mny = mxy = y;
        }
        else {
            if (x < mnx) mnx = x;
            if (x > mxx) mxx = x;
            if (y < mny) mny = y;
            if (y > mxy) mxy = y;
        }
    }
    return Py_BuildValue("(NNdddd)", bx, by, mnx, mny, mxx, mxy);
other:
    Py_DECREF(bx);
    Py_DECREF(by);
    Py_RETURN_NONE;
}

typedef struct {
    Py_ssize_t s, e;
    double cap;
} span_t;

PyDoc_STRVAR(rdp_doc,
"rdp(xs, ys, epsilon) -> bytes\n\n"
"RDP significance of every point of one polyline (packed doubles in, packed doubles out):\n"
"raster._rdp_dfs with bounds [0, n], bit for bit. Coordinates must be below 1e150.");

static PyObject *
rdp(PyObject *self, PyObject *args)
{
    Py_buffer bx, by;
    double eps;
    if (!PyArg_ParseTuple(args, "y*y*d:rdp", &bx, &by, &eps))
        return NULL;
    PyObject *result = NULL;
    span_t *stack = NULL;
    Py_ssize_t n = bx.len / (Py_ssize_t)sizeof(double);
    if (by.len != bx.len) {
        PyErr_SetString(PyExc_ValueError, "xs and ys differ in length");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    if (result == NULL || n == 0)
        goto done;
    const double *xs = (const double *)bx.buf, *ys = (const double *)by.buf;
    double *sig = (double *)PyBytes_AS_STRING(result);
    memset(sig, 0, n * sizeof(double));
    sig[0] = INFINITY;
    sig[n - 1] = INFINITY;
    if (n < 3)
        goto done;
    /* Every pushed span holds at least one point no other open span holds: n entries suffice. */
    stack = PyMem_Malloc(n * sizeof(span_t));
    if (stack == NULL) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t top = 0;
    stack[top++] = (span_t){0, n - 1, INFINITY};
    while (top > 0) {
        span_t sp = stack[--top];
        Py_ssize_t s = sp.s, e = sp.e;
        if (e - s < 2)
            continue;
        double ax = xs[s], ay = ys[s];
        double dx = xs[e] - ax, dy = ys[e] - ay;
        double seg = hypot(dx, dy);
        double best = -1.0;
        Py_ssize_t mid = s;
        if (seg > 0) {
            for (Py_ssize_t i = s + 1; i < e; i++) {
                double d = fabs((xs[i] - ax) * dy - (ys[i] - ay) * dx) / seg;
                if (d > best) {
                    best = d;
                    mid = i;
                }
            }
        }
        else { /* a closed span: distance to the (coincident) ends */
            for (Py_ssize_t i = s + 1; i < e; i++) {
                double d = hypot(xs[i] - ax, ys[i] - ay);
                if (d > best) {
                    best = d;
                    mid = i;
                }
            }
        }
        if (best > eps) {
            double val = best < sp.cap ? best : sp.cap;
            sig[mid] = val;
            stack[top++] = (span_t){mid, e, val};
            stack[top++] = (span_t){s, mid, val};
        }
    }
done:
    PyMem_Free(stack);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&by);
    return result;
}

PyDoc_STRVAR(keep_doc,
"keep(xs, ys, significance, eps, ox, oy, scale) -> (xs: bytes, ys: bytes, count, max_x, max_y)\n\n"
"One stroke's vertices with significance > eps, as (p - origin) * scale: the inner loop of\n"
"IncrementalRaster._extend_kept. max_x and max_y are -inf when nothing is kept.");

static PyObject *
keep(PyObject *self, PyObject *args)
{
    Py_buffer bx, by, bs;
    double eps, ox, oy, scale;
    if (!PyArg_ParseTuple(args, "y*y*y*dddd:keep", &bx, &by, &bs, &eps, &ox, &oy, &scale))
        return NULL;
    PyObject *out = NULL, *rx = NULL, *ry = NULL;
    Py_ssize_t n = bx.len / (Py_ssize_t)sizeof(double);
    if (by.len != bx.len || bs.len != bx.len) {
        PyErr_SetString(PyExc_ValueError, "xs, ys and significance differ in length");
        goto done;
    }
    const double *xs = bx.buf, *ys = by.buf, *sig = bs.buf;
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        m += sig[i] > eps;
    rx = PyBytes_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(double));
    ry = PyBytes_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(double));
    if (rx == NULL || ry == NULL)
        goto done;
    double *kx = (double *)PyBytes_AS_STRING(rx), *ky = (double *)PyBytes_AS_STRING(ry);
    double mx = -INFINITY, my = -INFINITY;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (sig[i] > eps) {
            double x = (xs[i] - ox) * scale, y = (ys[i] - oy) * scale;
            kx[k] = x;
            ky[k] = y;
            /* Python's max(): the first of equal values stays. */
            if (k == 0 || x > mx) mx = x;
            if (k == 0 || y > my) my = y;
            k++;
        }
    }
    out = Py_BuildValue("(OOndd)", rx, ry, m, mx, my);
done:
    Py_XDECREF(rx);
    Py_XDECREF(ry);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&by);
    PyBuffer_Release(&bs);
    return out;
}

PyDoc_STRVAR(pixels_doc,
"pixels(xs, ys, start, offx, offy, k) -> list\n\n"
"Flat [x0, y0, x1, y1, ...] of (v + off) * k - 0.5 for the vertices from `start` on:\n"
"IncrementalRaster._pixels' arithmetic, as the Python list Pillow's drawing takes.");

static PyObject *
pixels(PyObject *self, PyObject *args)
{
    Py_buffer bx, by;
    Py_ssize_t start;
    double offx, offy, k;
    if (!PyArg_ParseTuple(args, "y*y*nddd:pixels", &bx, &by, &start, &offx, &offy, &k))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = bx.len / (Py_ssize_t)sizeof(double);
    if (by.len != bx.len) {
        PyErr_SetString(PyExc_ValueError, "xs and ys differ in length");
        goto done;
    }
    if (start < 0 || start > n)
        start = n;
    const double *xs = bx.buf, *ys = by.buf;
    out = PyList_New(2 * (n - start));
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = start; i < n; i++) {
        PyObject *fx = PyFloat_FromDouble((xs[i] + offx) * k - 0.5);
        PyObject *fy = PyFloat_FromDouble((ys[i] + offy) * k - 0.5);
        if (fx == NULL || fy == NULL) {
            Py_XDECREF(fx);
            Py_XDECREF(fy);
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, 2 * (i - start), fx);
        PyList_SET_ITEM(out, 2 * (i - start) + 1, fy);
    }
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&by);
    return out;
}

PyDoc_STRVAR(encode_doc,
"encode(out, xs, ys, counts)\n\n"
"Fill a zeroed, C-contiguous float32 (max_points, 5) buffer with the point sequence of\n"
"simplified vertices (packed doubles, each stroke's vertex count in `counts`):\n"
"inference.sequence.encode_flat's arithmetic, bit for bit.");

static PyObject *
encode(PyObject *self, PyObject *args)
{
    Py_buffer bo, bx, by;
    PyObject *out_obj, *counts;
    if (!PyArg_ParseTuple(args, "Oy*y*O:encode", &out_obj, &bx, &by, &counts))
        return NULL;
    /* The format too, not only the bytes: a float64 array of the same size must not pass. */
    if (PyObject_GetBuffer(out_obj, &bo, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&bx);
        PyBuffer_Release(&by);
        return NULL;
    }
    PyObject *result = NULL, *fast = NULL;
    if (bo.itemsize != (Py_ssize_t)sizeof(float) || bo.format == NULL || strcmp(bo.format, "f") != 0) {
        PyErr_SetString(PyExc_TypeError, "out must be a C-contiguous float32 array");
        goto done;
    }
    Py_ssize_t total = bx.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t max_points = bo.len / (Py_ssize_t)(5 * sizeof(float));
    if (by.len != bx.len) {
        PyErr_SetString(PyExc_ValueError, "xs and ys differ in length");
        goto done;
    }
    if (bo.len != max_points * (Py_ssize_t)(5 * sizeof(float))) {
        PyErr_SetString(PyExc_ValueError, "out must hold rows of 5 float32");
        goto done;
    }
    fast = PySequence_Fast(counts, "counts must be a sequence of ints");
    if (fast == NULL)
        goto done;
    if (total > 0) {
        const double *xs = bx.buf, *ys = by.buf;
        float *out = bo.buf;
        double xmin = xs[0], xmax = xs[0], ymin = ys[0], ymax = ys[0];
        for (Py_ssize_t i = 1; i < total; i++) {
            if (xs[i] < xmin) xmin = xs[i];
            if (xs[i] > xmax) xmax = xs[i];
            if (ys[i] < ymin) ymin = ys[i];
            if (ys[i] > ymax) ymax = ys[i];
        }
        double cx = (xmax + xmin) / 2.0, cy = (ymax + ymin) / 2.0;
        Py_ssize_t n = total < max_points ? total : max_points;
        double px = 0, py = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            double x = (xs[i] - cx) / 255.0, y = (ys[i] - cy) / 255.0;
            out[5 * i] = (float)x;
            out[5 * i + 1] = (float)y;
            if (i > 0) {
                out[5 * i + 2] = (float)(x - px);
                out[5 * i + 3] = (float)(y - py);
            }
            px = x;
            py = y;
        }
        Py_ssize_t end = 0;
        Py_ssize_t nc = PySequence_Fast_GET_SIZE(fast);
        PyObject **items = PySequence_Fast_ITEMS(fast);
        for (Py_ssize_t j = 0; j < nc; j++) {
            Py_ssize_t c = PyNumber_AsSsize_t(items[j], PyExc_OverflowError);
            if (c == -1 && PyErr_Occurred())
                goto done;
            end += c;
            if (end > n)
                break;
            if (end >= 1)
                out[5 * (end - 1) + 4] = 1.0f;
        }
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(fast);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&by);
    return result;
}

static PyMethodDef methods[] = {
    {"points", points, METH_O, points_doc},
    {"rdp", rdp, METH_VARARGS, rdp_doc},
    {"keep", keep, METH_VARARGS, keep_doc},
    {"pixels", pixels, METH_VARARGS, pixels_doc},
    {"encode", encode, METH_VARARGS, encode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "inference._fastpath",
    "The worker's per-stroke arithmetic in C (see inference/_fastpath.c).", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    return PyModule_Create(&module);
}
