"""REST APIs as a source: an extract's pages fetched, then landed as one JSON-lines file.

An extract asks the API for every page from the stored cursor on (the
``incremental`` parameter), following its pagination (page numbers, offsets,
a cursor in the answer, or the ``Link`` header). A 429 is waited out (its
``Retry-After``, up to ``max_wait``), a 5xx, a timeout or a broken connection
is retried with a doubling backoff; a page that still fails ends the extract
with an error and nothing landed, so nothing of it is stored.

The extract is fetched before the lake's write lock is taken (a slow API
holds up no other writer). Only a complete extract is landed: written to a
hidden file, flushed, then renamed into the source's landing folder, where the normal batch path
ingests it like any JSON-lines file (contract, de-duplication, quarantine).
The raw answer's records stay replayable from that file. The new cursor (the
greatest value of the incremental field) is committed in the ledger in the
same transaction as the batch, so an extract whose batch did not commit is
asked for again.

A record the API serves twice in one extract (it changed between pages) is
landed newest first: the batch keeps a key's first record, so it keeps the
newest version and counts the stale one as a duplicate.

Secrets never sit in project files: ``auth`` names environment variables.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from weir.errors import WeirError
from weir.project.config import SourceConfig
from weir.project.database import expand_url
from weir.project.extract import RestOptions

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Extract:
    """What one extract fetched: each record's JSON text (in landing order) and the new cursor."""

    records: list[str]
    cursor: str | None
    pages: int
    retries: int


def position_key(source: SourceConfig) -> str:
    """The ledger's name for a REST source's cursor."""
    return f"rest:{source.name}"


class RestClient:
    """Fetches a REST source's pages, honouring rate limits and retrying failures."""

    def __init__(
        self,
        source: SourceConfig,
        env: Mapping[str, str] | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        if source.rest is None:
            raise WeirError(f"source {source.name} is not a REST source", "set format: rest")
        self.source = source
        self.options: RestOptions = source.rest
        self.sleep = sleep
        self.retried = 0
        environment = os.environ if env is None else env
        where = f"source {source.name}: ", f"sources/{source.name}.yml names it in rest.url"
        self.url = expand_url(source.rest.url, *where, env=environment)
        if not self.url.startswith(("http://", "https://")):
            raise WeirError(
                f"source {source.name}: rest.url is not an http:// or https:// URL once its "
                "environment variables are filled in",
                "set the variable to the API's address, e.g. https://api.example.com",
            )
        self.headers, self.auth_params, self.auth = _credentials(source, environment)

    # -- the extract ----------------------------------------------------------------
    def extract(self, cursor: str | None, max_pages: int | None = None) -> Extract:
        """Every page from ``cursor`` on (``max_pages``: stop after that many, for a sample)."""
        fetched: list[Any] = []
        pages = 0
        for page in self.pages(cursor):
            fetched.extend(page)
            pages += 1
            if max_pages is not None and pages >= max_pages:
                break
        newest = self._newest(fetched, cursor)
        return Extract(self._newest_first(fetched), newest, pages, self.retried)

    def pages(self, cursor: str | None) -> Iterator[list[Any]]:
        """Each page's records, in the order the API serves them."""
        options = self.options
        paging = options.pagination
        params: dict[str, str] = {**options.params, **self.auth_params}
        incremental = options.incremental
        since = cursor if cursor is not None else (incremental.initial if incremental else None)
        if incremental is not None and since is not None:
            params[incremental.param] = since
        if paging.size_param:
            params[paging.size_param] = str(paging.size)
        url: str | httpx.URL = self.url
        number, offset = paging.start, 0
        with httpx.Client(
            timeout=options.timeout, headers=self.headers, auth=self.auth, follow_redirects=True
        ) as client:
            for count in range(1, options.max_pages + 2):
                if count > options.max_pages:
                    raise WeirError(
                        f"source {self.source.name}: the API still had pages after {options.max_pages}",
                        "raise rest: {max_pages: ...}, or check that the pagination settings "
                        "match the API (a next page that never ends)",
                    )
                if paging.style == "page":
                    params[paging.parameter] = str(number)
                elif paging.style == "offset":
                    params[paging.parameter] = str(offset)
                response = self._get(client, url, params, count)
                answer = _json(response, self.source.name, count)
                records = _records(answer, options.records, self.source.name, count)
                yield records
                short = bool(paging.size_param) and len(records) < paging.size
                if paging.style in ("page", "offset"):
                    if not records or short:
                        return
                    number, offset = number + 1, offset + len(records)
                elif paging.style == "cursor":
                    following = _dig(answer, paging.next or "")
                    if following in (None, "") or not records:
                        return
                    params[paging.parameter] = str(following)
                elif paging.style == "link":
                    link = response.links.get("next", {}).get("url")
                    if not link:
                        return
                    # the link carries the query; only the auth parameter is added to it
                    url = response.url.join(link).copy_merge_params(self.auth_params)
                    params = {}
                else:
                    return

    def _get(
        self, client: httpx.Client, url: str | httpx.URL, params: dict[str, str], page: int
    ) -> httpx.Response:
        options = self.options
        attempt = 0
        while True:
            wait = options.backoff * (2**attempt)
            try:
                response = client.get(url, params=params or None)
            except httpx.TimeoutException:
                problem = f"no answer within {options.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status == 429:
                    problem = "429 Too Many Requests"
                    wait = min(_retry_after(response, wait), options.max_wait)
                elif status >= 500:
                    problem = f"{status} {response.reason_phrase}"
                else:
                    raise _refused(self.source, status, response.reason_phrase)
            if attempt >= options.retries:
                raise WeirError(
                    f"source {self.source.name}: page {page} failed after {options.retries} "
                    f"retries ({problem}); nothing of this extract was stored",
                    "run the ingest again later: it resumes from the last committed cursor",
                )
            attempt += 1
            self.retried += 1
            self.sleep(wait)

    # -- records and the cursor -------------------------------------------------------
    def _newest(self, records: list[Any], cursor: str | None) -> str | None:
        incremental = self.options.incremental
        if incremental is None:
            return None
        values = [
            str(r[incremental.field])
            for r in records
            if isinstance(r, dict) and r.get(incremental.field) not in (None, "")
        ]
        if cursor is not None:
            values.append(cursor)
        if not values:
            return None
        try:
            return max(values, key=float)
        except ValueError:  # not all numbers: ISO times and other text compare as text
            return max(values)

    def _newest_first(self, records: list[Any]) -> list[str]:
        """Each record's JSON text; a key served more than once has its versions reversed."""
        key = self.source.key
        places: dict[Hashable, list[int]] = {}
        for i, record in enumerate(records):
            if isinstance(record, dict):
                values = [record.get(k) for k in key]
                name: Hashable
                if all(isinstance(v, str | int | float | bool | None) for v in values):
                    name = tuple((type(v), v) for v in values)  # 1, 1.0 and true stay apart
                else:  # a list or an object in the key: compared as its JSON text
                    name = json.dumps(values)
                places.setdefault(name, []).append(i)
        order = list(range(len(records)))
        for seen in places.values():
            for at, came in zip(seen, reversed(seen), strict=True):
                order[at] = came
        return [json.dumps(records[i], ensure_ascii=False) for i in order]


def land_extract(root: Path, source: SourceConfig, extract: Extract) -> Path | None:
    """Write a complete extract into the source's landing folder, atomically; None if empty."""
    if not extract.records:
        return None
    folder = root / Path(source.location).parent
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f".{source.name}_*.partial"):
        if not _alive(stale):
            stale.unlink(missing_ok=True)  # a process killed while landing
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S.%fZ")
    final = folder / f"{source.name}_{stamp}.jsonl"
    hidden = folder / f".{final.name}.{os.getpid()}.partial"
    with hidden.open("w", encoding="utf-8") as out:
        for text in extract.records:
            out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(hidden, final)
    return final


def fetch_and_land(
    root: Path, source: SourceConfig, cursor: str | None, sleep: Sleep = time.sleep
) -> dict[str, str] | None:
    """One extract from ``cursor`` on, landed; the positions to commit with its batch."""
    extract = RestClient(source, sleep=sleep).extract(cursor)
    land_extract(root, source, extract)
    if extract.cursor is None or extract.cursor == cursor:
        return None
    return {position_key(source): extract.cursor}


# -- helpers -------------------------------------------------------------------------
def _alive(partial: Path) -> bool:
    """Whether the process that is writing ``partial`` (its pid is in the name) still runs."""
    try:
        pid = int(partial.name.rsplit(".", 2)[-2])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _credentials(
    source: SourceConfig, env: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str], httpx.BasicAuth | None]:
    auth = source.rest.auth if source.rest else None
    if auth is None:
        return {}, {}, None

    def secret(variable: str) -> str:
        value = env.get(variable)
        if not value:
            raise WeirError(
                f"source {source.name} needs the environment variable {variable}, which is not set",
                f"export {variable}=… before running weir (secrets are read from the "
                "environment only, never from project files)",
            )
        return value

    match auth.kind:
        case "bearer":
            return {"Authorization": f"Bearer {secret(auth.env)}"}, {}, None
        case "header":
            return {auth.name or "X-API-Key": secret(auth.env)}, {}, None
        case "query":
            return {}, {auth.name or "api_key": secret(auth.env)}, None
        case "basic":
            user = secret(auth.username_env or "")
            return {}, {}, httpx.BasicAuth(user, secret(auth.env))


def _retry_after(response: httpx.Response, default: float) -> float:
    """The wait a 429 asks for: seconds, or an HTTP date; ``default`` if it says neither."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _refused(source: SourceConfig, status: int, reason: str) -> WeirError:
    auth = source.rest.auth if source.rest else None
    if status in (401, 403):
        named = f" (the secret in {auth.env})" if auth else ""
        fix = f"check the credentials{named} and the auth settings of sources/{source.name}.yml"
    elif status == 404:
        fix = f"check rest: {{url: ...}} in sources/{source.name}.yml"
    else:
        fix = f"check the query parameters in sources/{source.name}.yml"
    return WeirError(f"source {source.name}: the API refused the request ({status} {reason})", fix)


def _json(response: httpx.Response, source: str, page: int) -> Any:
    try:
        return response.json()
    except ValueError:
        raise WeirError(
            f"source {source}: page {page} is not JSON "
            f"(content type {response.headers.get('content-type', 'unknown')})",
            "check the URL: it must be the API's records endpoint",
        ) from None


def _dig(answer: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(answer, dict):
            return None
        answer = answer.get(part)
    return answer


def _records(answer: Any, path: str, source: str, page: int) -> list[Any]:
    found = _dig(answer, path)
    if isinstance(found, list):
        return found
    keys = sorted(answer) if isinstance(answer, dict) else []
    lists = [k for k in keys if isinstance(answer[k], list)]
    hint = f"; the answer's lists: {', '.join(lists)}" if lists else ""
    raise WeirError(
        f"source {source}: page {page} has no list of records at '{path or '(the answer)'}'{hint}",
        "set rest: {records: <dotted path>} to where the records are",
    )
