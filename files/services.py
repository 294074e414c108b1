"""Writes and rules of files: storing uploads safely, folder trees, and signed download links."""

import codecs
import hashlib
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import filetype
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.base import File as StoredContent
from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from core.exceptions import StateConflict
from core.text import WHITESPACE
from tenancy.context import company_context, require_company_id
from tenancy.models import Company

from .models import File, Folder

logger = logging.getLogger(__name__)

DOWNLOAD_SALT = "files.download"
UNSAFE_CHARACTERS = re.compile(r"[^\w.\- ()]+")
# Filesystems cap a name at 255 bytes; the storage may still append a suffix to make it unique.
MAX_NAME_BYTES = 200
MAX_EXTENSION_CHARACTERS = 20
SNIFF_BYTES = 8192
# Characters a folder name never holds: C0 and C1 controls (line breaks included), bidirectional
# controls that reorder how a name reads, line and paragraph separators, and the path separators.
# Listed rather than judged by Unicode category so that the API schema states the same rule exactly.
_FOLDER_NAME_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069/\\"
FOLDER_NAME_FORBIDDEN = re.compile(f"[{_FOLDER_NAME_FORBIDDEN}]")
# Some visible character, none of the forbidden ones, and not "." or ".." once trimmed.
_FOLDER_NAME_CHARACTER = f"[^{_FOLDER_NAME_FORBIDDEN}]"
FOLDER_NAME_PATTERN = (
    rf"^(?![{WHITESPACE}]*\.{{1,2}}[{WHITESPACE}]*$){_FOLDER_NAME_CHARACTER}*"
    rf"[^{WHITESPACE}{_FOLDER_NAME_FORBIDDEN}]{_FOLDER_NAME_CHARACTER}*$"
)


class UploadRefused(ValueError):
    """An upload the CRM will not store: too large, or without a usable name."""


class UploadTooLarge(UploadRefused):
    """An upload larger than settings.FILE_UPLOAD_MAX_BYTES."""


class DownloadLinkInvalid(LookupError):
    """A download token that was tampered with, or names a file or company that is gone."""


class DownloadLinkExpired(DownloadLinkInvalid):
    """A genuine download token older than settings.FILE_LINK_MAX_AGE_SECONDS."""


def size_limit_message(limit: int | None = None) -> str:
    """The sentence every layer uses to refuse an upload over the limit."""
    limit = settings.FILE_UPLOAD_MAX_BYTES if limit is None else limit
    if limit >= 1024 * 1024:
        shown = f"{limit / (1024 * 1024):g} MB"
    elif limit >= 1024:
        shown = f"{limit / 1024:g} KB"
    else:
        shown = f"{limit} bytes"
    return f"The file is larger than the {shown} upload limit."


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def sanitize_filename(raw: str) -> str:
    """A filename safe to show and store: no directories, no control or path characters."""
    name = unicodedata.normalize("NFKC", raw or "")
    # Control, format (e.g. right-to-left override) and unassigned characters go entirely.
    name = "".join(character for character in name if not unicodedata.category(character).startswith("C"))
    name = name.replace("\\", "/").split("/")[-1]
    name = UNSAFE_CHARACTERS.sub("_", name).strip(" .")
    name = re.sub(r"_+", "_", name)
    if not name or name in {".", ".."}:
        name = "file"
    stem, extension = os.path.splitext(name)
    extension = _truncate_utf8(extension[:MAX_EXTENSION_CHARACTERS], MAX_NAME_BYTES // 2)
    stem = _truncate_utf8(stem, MAX_NAME_BYTES - len(extension.encode("utf-8"))).strip(" .") or "file"
    return stem + extension


def sniff_content_type(head: bytes) -> str:
    """The type the content says it is (magic numbers), never the type the client claims."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        # Not final: the head may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def storage():
    """The storage backend for files (settings.STORAGES["files"], local filesystem by default)."""
    return storages["files"]


def company_prefix(company_id) -> str:
    """The storage prefix under which every byte of one company lives."""
    return f"companies/{company_id}/"


def storage_key_for(company_id, name: str, file_id=None) -> str:
    """Every company's files live under their own prefix, each upload in its own directory."""
    return f"{company_prefix(company_id)}files/{file_id or uuid.uuid4()}/{name}"


def store_bytes(content: bytes, *, name: str, folder: Folder | None = None, user=None, file_id=None) -> File:
    """Store content as a new file of the current company; refuse what exceeds the size limit."""
    return store_stream(ContentFile(content), name=name, folder=folder, user=user, file_id=file_id)


def _measure(content: StoredContent, limit: int) -> tuple[int, str, bytes]:
    """Size, SHA-256 and first bytes of the content, refusing it as soon as it passes the limit."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    for chunk in content.chunks():
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(size_limit_message(limit))
        digest.update(chunk)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
    return size, digest.hexdigest(), head


def store_stream(stream, *, name: str, folder: Folder | None = None, user=None, file_id=None) -> File:
    """Store an uploaded file (any file-like object) as a new file of the current company.

    Nothing is written, neither bytes nor row, when the content is over the size limit.
    """
    limit = settings.FILE_UPLOAD_MAX_BYTES
    if getattr(stream, "size", None) is not None and stream.size > limit:
        raise UploadTooLarge(size_limit_message(limit))
    company_id = require_company_id()
    content = stream if isinstance(stream, StoredContent) else StoredContent(stream)
    if not content.seekable():
        # Measured and then saved, the content is read twice: hold a one-way stream in memory.
        data = content.read(limit + 1)
        if len(data) > limit:
            raise UploadTooLarge(size_limit_message(limit))
        content = ContentFile(data)
    size, sha256, head = _measure(content, limit)
    content.seek(0)
    safe_name = sanitize_filename(name)
    file_id = file_id or uuid.uuid4()
    key = storage().save(storage_key_for(company_id, safe_name, file_id), content)
    try:
        with transaction.atomic():
            return File.objects.create(
                id=file_id,
                name=safe_name,
                folder=folder,
                user=user,
                content_type=sniff_content_type(head),
                size=size,
                sha256=sha256,
                storage_key=key,
            )
    except Exception:
        storage().delete(key)
        raise


class StoredContentMissing(StateConflict):
    """A file's row exists but its stored bytes cannot be read (lost or removed from storage)."""


def open_file(file: File):
    """The stored content of a file, opened for reading; StoredContentMissing when it is gone."""
    try:
        return storage().open(file.storage_key, "rb")
    except OSError as error:
        logger.error("stored content of file %s is unreadable: %s", file.pk, error)
        raise StoredContentMissing(
            f"The stored content of {file.name} is missing; upload the file again."
        ) from error


def read_bytes(file: File) -> bytes:
    """The stored content of a file."""
    with open_file(file) as handle:
        return handle.read()


def current_sha256(file: File) -> str:
    """The SHA-256 of the stored content as it is now."""
    digest = hashlib.sha256()
    with open_file(file) as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def update_file(file: File, **changes) -> File:
    """Rename a file (`name`, sanitized) and/or move it (`folder`, None for the top level)."""
    unknown = set(changes) - {"name", "folder"}
    if unknown:
        raise TypeError(f"update_file() changes only name and folder, not {sorted(unknown)}.")
    if "name" in changes:
        file.name = sanitize_filename(changes["name"])
    if "folder" in changes:
        file.folder = changes["folder"]
    file.save(update_fields=[*changes, "updated_at"])
    return file


def delete_file(file: File) -> None:
    """Soft-delete a file; its bytes stay in storage for audit, undo and the documents that cite it."""
    file.soft_delete()


# Folders


def clean_folder_name(raw: str) -> str:
    """A folder name as stored: trimmed and composed (NFC); refused unless it matches FOLDER_NAME_PATTERN."""
    raw = raw or ""
    if re.search(FOLDER_NAME_PATTERN, raw) is None:
        if not raw.strip():
            raise ValidationError({"name": "A folder needs a name; this one is blank."})
        if FOLDER_NAME_FORBIDDEN.search(raw.replace("/", "").replace("\\", "")):
            raise ValidationError({"name": "A folder name cannot contain control characters or line breaks."})
        raise ValidationError({"name": 'A folder name cannot be "." or ".." nor contain "/" or "\\".'})
    name = raw.strip()
    max_length = Folder._meta.get_field("name").max_length
    if len(name) > max_length:
        raise ValidationError({"name": f"A folder name has at most {max_length} characters."})
    composed = unicodedata.normalize("NFC", name)
    # Composing rarely lengthens a name; when it would no longer fit, the name is kept as typed.
    return composed if len(composed) <= max_length else name


def ancestor_ids(folder: Folder | None) -> list:
    """Ids of a folder and every folder above it, nearest first (one query a level)."""
    found: list = []
    current = folder.pk if folder is not None else None
    while current is not None and current not in found:
        found.append(current)
        current = Folder.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return found


def check_folder(folder: Folder, *, name: str, parent: Folder | None) -> str:
    """The cleaned name; refuse a cycle, or a name another live folder of the parent already has."""
    name = clean_folder_name(name)
    if folder.pk is not None and parent is not None and folder.pk in ancestor_ids(parent):
        # Whether the target lies below the folder depends on the tree as stored: a conflict (409).
        raise StateConflict({"parent": "A folder cannot be moved into itself or one of its subfolders."})
    # Case-insensitive, so "Contracts" and "contracts" never sit side by side.
    siblings = Folder.objects.filter(parent=parent, name__iexact=name)
    if folder.pk is not None:
        siblings = siblings.exclude(pk=folder.pk)
    if siblings.exists():
        where = f'"{parent.name}"' if parent is not None else "the top level"
        raise ValidationError({"name": f'A folder named "{name}" already exists in {where}.'})
    return name


def save_folder(folder: Folder, *, name: str, parent: Folder | None, user=None) -> Folder:
    """Create, rename or move a folder, keeping names unique within a parent and the tree acyclic."""
    folder.name = check_folder(folder, name=name, parent=parent)
    folder.parent = parent
    if folder._state.adding and folder.user_id is None:
        folder.user = user
    try:
        with transaction.atomic():
            folder.save()
    except IntegrityError:
        # Another request took the name between the check and the insert.
        check_folder(folder, name=name, parent=parent)
        raise
    return folder


def subtree_ids(folder: Folder) -> list:
    """Ids of a folder and every live folder below it, read one query a level."""
    found: set = set()
    level = {folder.pk}
    while level:
        found |= level
        level = set(Folder.objects.filter(parent_id__in=level).values_list("pk", flat=True)) - found
    return list(found)


@dataclass(frozen=True)
class DeletedTree:
    folders: int
    files: int


@transaction.atomic
def delete_folder(folder: Folder) -> DeletedTree:
    """Soft-delete a folder, every folder below it and all their files, in one query a level."""
    ids = subtree_ids(folder)
    files = File.objects.filter(folder_id__in=ids).soft_delete()
    folders = Folder.objects.filter(pk__in=ids).soft_delete()
    return DeletedTree(folders=folders, files=files)


def folder_tree() -> list[dict]:
    """Every live folder of the company as nested nodes {id, name, parent, children}, in one query."""
    nodes = {
        pk: {"id": pk, "name": name, "parent": parent_id, "children": []}
        for pk, name, parent_id in Folder.objects.order_by("name").values_list("pk", "name", "parent_id")
    }
    roots = []
    for node in nodes.values():
        parent = nodes.get(node["parent"])
        (parent["children"] if parent is not None else roots).append(node)
    return roots


# Signed download links


def signed_download_token(file: File) -> str:
    """An unguessable token naming the file and its company; checked for age when used."""
    return signing.dumps({"f": str(file.pk), "c": str(file.company_id)}, salt=DOWNLOAD_SALT, compress=True)


@dataclass(frozen=True)
class DownloadLink:
    token: str
    url: str
    expires_at: datetime


def download_link(file: File) -> DownloadLink:
    """A public link to the file, valid for settings.FILE_LINK_MAX_AGE_SECONDS from now."""
    issued = datetime.now(UTC).replace(microsecond=0)
    token = signed_download_token(file)
    return DownloadLink(
        token=token,
        url=f"{settings.PUBLIC_BASE_URL}/api/public/files/{token}",
        expires_at=issued + timedelta(seconds=settings.FILE_LINK_MAX_AGE_SECONDS),
    )


def resolve_download_token(token: str, *, max_age: int | None = None) -> File:
    """The live file a token names, read inside the token's company; raise when expired or invalid."""
    max_age = settings.FILE_LINK_MAX_AGE_SECONDS if max_age is None else max_age
    try:
        claims = signing.loads(token, salt=DOWNLOAD_SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise DownloadLinkExpired("This download link has expired; ask for a new one.") from error
    except (signing.BadSignature, ValueError) as error:
        raise DownloadLinkInvalid("This download link is not valid.") from error
    try:
        company_id, file_id = uuid.UUID(claims["c"]), uuid.UUID(claims["f"])
    except (KeyError, TypeError, ValueError) as error:
        raise DownloadLinkInvalid("This download link is not valid.") from error
    # The signed claims name the company, so nothing is looked up across companies: the company's
    # state and the file are read inside it.
    with company_context(company_id):
        if not Company.objects.filter(pk=company_id, is_active=True).exists():
            raise DownloadLinkInvalid("This download link is not valid.")
        file = File.objects.filter(pk=file_id).first()
    if file is None:
        raise DownloadLinkInvalid("The file behind this link no longer exists.")
    return file
