"""`python -m server.settings_doc`: the README's table of settings, generated from `Settings`."""
from __future__ import annotations

from server.settings import REPO_ROOT, Settings


def settings_table() -> str:
    """A Markdown table: environment variable, default, meaning."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, type(REPO_ROOT)):
            default = f"<repo>/{default.relative_to(REPO_ROOT)}"
        shown = "unset" if default is None else f"`{default}`"
        rows.append(f"| `{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def write_readme() -> None:
    """Replace the settings table in README.md with the current one."""
    readme = REPO_ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index("| variable | default | meaning |")
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + settings_table() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv:
        write_readme()
    else:
        print(settings_table())
