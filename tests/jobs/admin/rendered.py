"""Submit an admin form as a browser would: only what the rendered page contains.

Posting a form class's Python fields hid a defect for three sessions: the job
change page shows the owner as a read-only link, so a browser never posts
`owner`, yet the form required it and every save of an existing job failed
(issue 14). These helpers parse the page's `<form>` and post exactly its
successful controls (HTML's "form submission" rules: named, enabled inputs;
checkboxes and radios only when checked; the selected options of a select;
textareas' text; no read-only display).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from django.test import Client


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.data: list[tuple[str, str]] = []
        self.fields: set[str] = set()
        self._select: str | None = None
        self._select_options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form" and (self.form_id is None or a.get("id") == self.form_id):
            self.in_form = True
            return
        if not self.in_form or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            self.fields.add(name)
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append((name, a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and name:
            self.fields.add(name)
            self._select, self._select_options = name, []
            self._multiple = "multiple" in a
        elif tag == "option" and self._select is not None:
            self._option_value = a.get("value")
            self._option_selected = "selected" in a
            self._option_text: list[str] = []
        elif tag == "textarea" and name:
            self.fields.add(name)
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)
        elif self._select is not None and hasattr(self, "_option_text"):
            self._option_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "option" and self._select is not None and hasattr(self, "_option_text"):
            value = self._option_value if self._option_value is not None else "".join(self._option_text).strip()
            self._select_options.append((value, self._option_selected))
            del self._option_text
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._select_options if selected]
            if not chosen and self._select_options and not self._multiple:
                chosen = [self._select_options[0][0]]  # a browser submits the first option
            self.data.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            # HTML drops one newline right after <textarea>.
            self.data.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None


class RenderedForm:
    """The successful controls of one form on a page, to change and submit like a user."""

    def __init__(self, client: Client, url: str, *, form_id: str | None = None) -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        parser = _FormParser(form_id)
        parser.feed(response.content.decode())
        self.client, self.url = client, url
        self.fields = parser.fields  # every named control the page has
        self.data: list[tuple[str, str]] = parser.data

    def __getitem__(self, name: str) -> str:
        return next(value for key, value in self.data if key == name)

    def set(self, name: str, value: str) -> RenderedForm:
        """Type into a control the page has (a browser cannot fill one it does not show)."""
        assert name in self.fields, f"the page has no control named {name!r}"
        self.data = [(key, v) for key, v in self.data if key != name] + [(name, value)]
        return self

    def untick(self, name: str) -> RenderedForm:
        assert name in self.fields, f"the page has no control named {name!r}"
        self.data = [(key, v) for key, v in self.data if key != name]
        return self

    def submit(self, **extra: Any) -> Any:
        payload: dict[str, list[str]] = {}
        for key, value in self.data:
            payload.setdefault(key, []).append(value)
        return self.client.post(self.url, payload, **extra)
