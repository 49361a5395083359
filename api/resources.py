"""What an agent may read over MCP besides calling tools (resources/list, resources/read): the strategy guide, the
config.json JSON Schema, the worked examples, and the caller's own strategies' files.

Fixed resources need no database. A strategy's file is read through the REST route of its version
(tools.api_request), so it answers with the caller's key exactly what REST would: someone else's strategy is
"not found", whatever its id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings

from api.tools import API, EXAMPLES, GUIDE_EXAMPLES, api_request, strategy_guide
from strategies.validation import config_schema

SCHEME = "strategyhub://"
FILE_TEMPLATE = SCHEME + "strategies/{strategy_id}/versions/{number}/files/{filename}"
FILE_URI = re.compile(r"^strategyhub://strategies/(?P<strategy_id>[0-9]{1,18})/versions/(?P<number>[0-9]{1,18})"
                      r"/files/(?P<filename>[A-Za-z0-9_.-]{1,100})$")
STRATEGY_FILES_LISTED = 50  # strategies whose current files resources/list names; older ones by the template


@dataclass(frozen=True)
class Resource:
    uri: str
    name: str
    title: str
    description: str
    mime_type: str


class ResourceNotFound(LookupError):
    """No such resource for this caller; the message says what exists."""


def _mime_type(filename: str) -> str:
    return "application/json" if filename.endswith(".json") else "text/x-python"


@cache
def _fixed() -> dict[str, tuple[Resource, str]]:
    """Every resource that is the same for every caller, with its text."""
    guide = settings.BASE_DIR / "docs" / "strategies.md"
    found = [
        (Resource(SCHEME + "docs/strategies.md", "strategies.md", "Writing a strategy",
                  "The strategy guide: both file layouts, every config.json key, the SDK a script sees, modes, "
                  "sizing and risk checks. Read it before writing your first strategy.", "text/markdown"),
         guide.read_text()),
        (Resource(SCHEME + "schema/strategy-config.schema.json", "strategy-config.schema.json",
                  "config.json JSON Schema",
                  "The JSON Schema every strategy's config.json is validated against; each property's x-expect "
                  "is what an error message says a valid value is.", "application/schema+json"),
         json.dumps(config_schema(), indent=1)),
        (Resource(SCHEME + "guide/sdk.json", "sdk.json", "SDK reference and examples",
                  "What get_strategy_guide returns: the config schema, the SDK reference, every venue method with "
                  "its arguments, and two complete worked examples.", "application/json"),
         json.dumps(strategy_guide(), indent=1)),
    ]
    for example in GUIDE_EXAMPLES:
        for path in sorted((EXAMPLES / example).iterdir()):
            if path.is_file():
                found.append((Resource(f"{SCHEME}examples/{example}/{path.name}", path.name,
                                       f"Example {example}: {path.name}",
                                       f"A file of the worked example strategy {example}.", _mime_type(path.name)),
                              path.read_text()))
    return {resource.uri: (resource, text) for resource, text in found}


def fixed_resources() -> list[Resource]:
    return [resource for resource, _ in _fixed().values()]


def strategy_file_resources(authorization: str) -> list[Resource]:
    """The files of the current version of the caller's first STRATEGY_FILES_LISTED strategies (by name)."""
    from accounts.services import api_key_find
    from strategies.selectors import strategies_for_user

    key = api_key_find(authorization.removeprefix("Bearer ").strip())
    if key is None:
        return []
    strategies = (strategies_for_user(key.user).filter(current_version__isnull=False)
                  .select_related("current_version").prefetch_related("current_version__files")
                  [:STRATEGY_FILES_LISTED])
    found = []
    for strategy in strategies:
        version = strategy.current_version
        assert version is not None
        for chat_file in sorted(version.files.all(), key=lambda f: f.filename):
            found.append(Resource(
                FILE_TEMPLATE.format(strategy_id=strategy.pk, number=version.number, filename=chat_file.filename),
                chat_file.filename, f"{strategy.name} v{version.number}: {chat_file.filename}",
                f"{chat_file.filename} of version {version.number} (the current one) of your strategy "
                f"{strategy.name!r} (id {strategy.pk}).", _mime_type(chat_file.filename)))
    return found


def resource_read(uri: str, *, authorization: str, base_url: str = "") -> tuple[Resource, str]:
    """The resource `uri` names and its text, as the holder of `authorization` sees it; ResourceNotFound if none."""
    if uri in _fixed():
        return _fixed()[uri]
    match = FILE_URI.match(uri)
    if match is None:
        raise ResourceNotFound(f"no resource {uri!r}: resources/list names the fixed ones, and a strategy's file is "
                               f"{FILE_TEMPLATE}")
    strategy_id, number, filename = int(match["strategy_id"]), int(match["number"]), match["filename"]
    code, version = api_request("GET", f"{API}/strategies/{strategy_id}/versions/{number}/",
                                authorization=authorization, base_url=base_url)
    if code != 200:
        message = version.get("error", {}).get("message") if isinstance(version, dict) else None
        raise ResourceNotFound(message or f"no resource {uri!r} (HTTP {code})")
    files: dict[str, Any] = {one["filename"]: one for one in version["files"]}
    if filename not in files:
        raise ResourceNotFound(f"version {number} of strategy {strategy_id} has no file {filename!r}; its files: "
                               f"{', '.join(sorted(files))}")
    resource = Resource(uri, filename, f"v{number}: {filename}", f"{filename} of version {number} of strategy "
                        f"{strategy_id}.", _mime_type(filename))
    return resource, str(files[filename]["content"])
