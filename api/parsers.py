"""The API's one parser: DRF's JSON, with a body's size and nesting bounded before json.load reads it."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from strategies.validation import MAX_CONFIG_DEPTH
from strategyhub.lib.json_depth import json_too_deep

MAX_BODY_DEPTH = MAX_CONFIG_DEPTH + 1  # a new version's config sits one level down in its body


class BoundedJSONParser(JSONParser):
    def parse(self, stream: IO[Any], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        bound = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(bound + 1)  # a body without (or lying about) its Content-Length is bounded too
        if len(raw) > bound:
            raise RequestDataTooBig(f"a body larger than {bound} bytes")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - not {encoding} text: {exc.reason}") from None
        too_deep = json_too_deep(text, MAX_BODY_DEPTH)
        if too_deep is not None:
            line, column = too_deep
            raise ParseError(f"JSON parse error - objects and lists nested more than {MAX_BODY_DEPTH} deep "
                             f"(line {line} column {column})")
        return super().parse(io.BytesIO(raw), media_type, parser_context)
