"""Writes and rules of files: storing uploads safely, folder trees, and signed download links."""

import hashlib
import os
import re
import unicodedata
import uuid

import filetype
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction

from tenancy.context import company_context, require_company_id

from .models import File, Folder

DOWNLOAD_SALT = "files.download"
UNSAFE_CHARACTERS = re.compile(r"[^\w.\- ()]+")


class UploadRefused(ValueError):
    """An upload the CRM will not store: too large, or without a usable name."""


def sanitize_filename(raw: str) -> str:
    """A filename safe to show and store: no directories, no control or path characters."""
    name = unicodedata.normalize("NFKC", raw or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = UNSAFE_CHARACTERS.sub("_", name).strip(" .")
    name = re.sub(r"_+", "_", name)
    if not name or name in {".", ".."}:
        name = "file"
    stem, extension = os.path.splitext(name)
    return stem[: 255 - len(extension[:20])] + extension[:20]


def sniff_content_type(head: bytes) -> str:
    """The type the content says it is (magic numbers), never the type the client claims."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def storage():
    """The storage backend for files (settings.STORAGES["files"], local filesystem by default)."""
    return storages["files"]


def storage_key_for(company_id, name: str) -> str:
    """Every company's files live under their own prefix, each upload in its own directory."""
    return f"companies/{company_id}/files/{uuid.uuid4()}/{name}"


def store_bytes(content: bytes, *, name: str, folder: Folder | None = None, user=None) -> File:
    """Store content as a new file of the current company; refuse what exceeds the size limit."""
    return store_stream(ContentFile(content), name=name, folder=folder, user=user)


def store_stream(stream, *, name: str, folder: Folder | None = None, user=None) -> File:
    """Store an uploaded file (any file-like object with chunks()) as a new file of the current company."""
    limit = settings.FILE_UPLOAD_MAX_BYTES
    if getattr(stream, "size", None) is not None and stream.size > limit:
        raise UploadRefused(f"The file is larger than the {limit // (1024 * 1024)} MB limit.")
    company_id = require_company_id()
    safe_name = sanitize_filename(name)
    digest = hashlib.sha256()
    head = b""
    size = 0
    buffer = bytearray()
    for chunk in stream.chunks() if hasattr(stream, "chunks") else [stream.read()]:
        size += len(chunk)
        if size > limit:
            raise UploadRefused(f"The file is larger than the {limit // (1024 * 1024)} MB limit.")
        digest.update(chunk)
        if len(head) < 8192:
            head += chunk[: 8192 - len(head)]
        buffer.extend(chunk)
    key = storage().save(storage_key_for(company_id, safe_name), ContentFile(bytes(buffer)))
    try:
        with transaction.atomic():
            return File.objects.create(
                name=safe_name,
                folder=folder,
                user=user,
                content_type=sniff_content_type(head),
                size=size,
                sha256=digest.hexdigest(),
                storage_key=key,
            )
    except Exception:
        storage().delete(key)
        raise


def open_file(file: File):
    """The stored content of a file, opened for reading."""
    return storage().open(file.storage_key, "rb")


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


def signed_download_token(file: File) -> str:
    """An unguessable token naming the file and its company; checked for age when used."""
    return signing.dumps({"f": str(file.pk), "c": str(file.company_id)}, salt=DOWNLOAD_SALT, compress=True)


def file_for_download_token(token: str, *, max_age: int):
    """The file a signed token names, read inside the token's company; None when invalid or expired."""
    try:
        claims = signing.loads(token, salt=DOWNLOAD_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    with company_context(claims["c"]):
        return File.objects.filter(pk=claims["f"]).first()
