"""Files over REST, the public signed link and the admin: upload, sniffing, limits, names, downloads."""

import hashlib
import io
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from reportlab.pdfgen import canvas
from rest_framework.test import APIClient

from files.demo import seed_files
from files.models import File, Folder
from files.services import MAX_NAME_BYTES, current_sha256, sanitize_filename, signed_download_token, storage
from tenancy.context import company_context

from ..factories import FileFactory, FolderFactory
from ..unscoped import as_the_platform_unaudited, stored

FILES = "/api/files"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND"
    b"\xaeB`\x82"
)


def pdf_bytes() -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, invariant=1)
    page.drawString(72, 720, "Quote Q-1")
    page.save()
    return buffer.getvalue()


def upload(client, content: bytes, filename: str = "notes.txt", **fields):
    """POST a multipart upload as the single-page app does."""
    return client.post(FILES, {"file": SimpleUploadedFile(filename, content), **fields}, format="multipart")


def raw_multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body whose filename is sent exactly as given (test clients strip directories)."""
    boundary = "crmtestboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def file_count(company) -> int:
    with company_context(company):
        return File.objects.count()


def files_on_disk(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def company_directory(root: Path, company) -> Path:
    return (root / "companies" / str(company.pk)).resolve()


def download_bytes(response) -> bytes:
    return b"".join(response.streaming_content)


def public_path(url: str) -> str:
    return url.removeprefix("http://testserver")


@pytest.fixture
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = "https://crm.example"
    return settings.PUBLIC_BASE_URL


# Upload


def test_upload_stores_the_bytes_with_sniffed_type_size_and_sha256(
    client_a, client_b, company_a, user_a, tmp_path
):
    """A PNG named .pdf is stored as image/png with its size and SHA-256, under A's prefix, unseen by B."""
    response = upload(client_a, PNG, "brochure.pdf")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["company"] == str(company_a.pk)
    assert body["user"] == str(user_a.pk)
    assert (body["name"], body["content_type"], body["size"]) == ("brochure.pdf", "image/png", len(PNG))
    assert body["sha256"] == hashlib.sha256(PNG).hexdigest()
    row = stored(File, body["id"])
    on_disk = Path(storage().path(row.storage_key)).resolve()
    assert on_disk.read_bytes() == PNG
    assert on_disk.is_relative_to(company_directory(tmp_path, company_a))
    assert client_b.get(FILES).json()["count"] == 0
    assert client_b.get(f"{FILES}/{body['id']}").status_code == 404
    assert [row["id"] for row in client_a.get(FILES).json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("content", "filename", "sniffed"),
    [
        (PNG, "brochure.pdf", "image/png"),
        (pdf_bytes(), "notes.txt", "application/pdf"),
        ("Grüße aus Köln\n".encode(), "setup.exe", "text/plain"),
        (b"\x00\x01\x02binary\xff\xfe", "photo.jpg", "application/octet-stream"),
    ],
    ids=["png-named-pdf", "pdf-named-txt", "utf8-named-exe", "binary-named-jpg"],
)
def test_type_is_sniffed_from_the_content_never_the_name(client_a, content, filename, sniffed):
    """The stored and served type is what the bytes are, whatever the extension or the client says."""
    response = client_a.post(
        FILES,
        {"file": SimpleUploadedFile(filename, content, content_type="application/x-claimed")},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == sniffed
    download = client_a.get(f"{FILES}/{response.json()['id']}/download")
    assert download["Content-Type"] == sniffed


@pytest.mark.parametrize("fields", [{}, {"name": ""}], ids=["no-name", "blank-name"])
def test_without_a_name_the_uploaded_filename_is_kept(client_a, fields):
    """The optional name may be left out or blank: the file keeps the name it was uploaded with."""
    response = upload(client_a, b"minutes", "Board minutes (final).txt", **fields)

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Board minutes (final).txt"


def test_upload_into_a_folder_and_list_by_folder(client_a, client_b, company_a, company_b):
    """Files land in the chosen folder; ?folder=<id> and ?folder=root list one place, in one company."""
    contracts = FolderFactory(company=company_a, name="Contracts")
    FileFactory(company=company_b, name="theirs.txt")

    inside = upload(client_a, b"signed", "signed.txt", folder=str(contracts.pk))
    outside = upload(client_a, b"loose", "loose.txt")

    assert inside.status_code == outside.status_code == 201
    assert inside.json()["folder"] == str(contracts.pk)
    by_folder = client_a.get(FILES, {"folder": str(contracts.pk)}).json()["results"]
    at_top = client_a.get(FILES, {"folder": "root"}).json()["results"]
    assert [row["name"] for row in by_folder] == ["signed.txt"]
    assert [row["name"] for row in at_top] == ["loose.txt"]
    assert client_b.get(FILES, {"folder": str(contracts.pk)}).json()["count"] == 0


def test_upload_into_another_company_folder_stores_nothing(client_b, company_a, company_b, tmp_path):
    """Company B naming A's folder gets a 400 on folder, and no row or byte is stored."""
    folder_a = FolderFactory(company=company_a)

    response = upload(client_b, b"content", "x.txt", folder=str(folder_a.pk))

    assert response.status_code == 400
    assert "folder" in response.json()
    assert (file_count(company_a), file_count(company_b)) == (0, 0)
    assert files_on_disk(tmp_path) == []


def test_upload_without_a_file_or_with_an_empty_one_is_a_400(client_a, company_a, tmp_path):
    """A form without `file` and an empty file are each a 400 keyed on file."""
    responses = [
        client_a.post(FILES, {"name": "x.txt"}, format="multipart"),
        upload(client_a, b"", "empty.txt"),
    ]

    for response in responses:
        assert response.status_code == 400
        assert "file" in response.json()
    assert file_count(company_a) == 0
    assert files_on_disk(tmp_path) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"no boundary at all", "multipart/form-data"),
        (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc',
            "multipart/form-data; boundary=b",
        ),
        (b"--b\r\n\r\n\r\n--b--", "multipart/form-data; boundary=" + "b" * 80),
    ],
    ids=["no-boundary", "truncated", "boundary-too-long"],
)
def test_a_malformed_multipart_body_is_a_400(client_a, company_a, tmp_path, body, content_type):
    """A body that is not valid multipart is a 4xx with a message, never a 500, and stores nothing."""
    response = client_a.post(FILES, data=body, content_type=content_type)

    assert response.status_code == 400, response.content
    assert response.json()
    assert file_count(company_a) == 0
    assert files_on_disk(tmp_path) == []


# Size limit


def test_a_file_at_the_limit_is_stored_and_one_byte_more_is_a_413(client_a, company_a, settings, tmp_path):
    """FILE_UPLOAD_MAX_BYTES is inclusive; one byte over is a 413 that says the limit and stores nothing."""
    settings.FILE_UPLOAD_MAX_BYTES = 1024

    refused = upload(client_a, b"x" * 1025, "big.txt")
    assert refused.status_code == 413
    assert refused.json()["detail"] == "The file is larger than the 1 KB upload limit."
    assert file_count(company_a) == 0
    assert files_on_disk(tmp_path) == []

    accepted = upload(client_a, b"x" * 1024, "fits.txt")
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["size"] == 1024
    assert len(files_on_disk(tmp_path)) == 1


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(client_a, company_a, settings, tmp_path):
    """A request whose Content-Length cannot fit under the limit is a 413 and leaves nothing behind."""
    settings.FILE_UPLOAD_MAX_BYTES = 1024

    response = upload(client_a, b"x" * (512 * 1024), "huge.bin")

    assert response.status_code == 413
    assert "1 KB upload limit" in response.json()["detail"]
    assert file_count(company_a) == 0
    assert files_on_disk(tmp_path) == []


@pytest.mark.parametrize("stream_class", [io.BytesIO, "OneWayStream"])
def test_the_service_refuses_content_over_the_limit_without_a_declared_size(
    company_a, settings, tmp_path, stream_class
):
    """A stream without a size (other apps storing generated bytes) is measured and refused too."""
    from files.services import UploadTooLarge, store_stream

    settings.FILE_UPLOAD_MAX_BYTES = 10
    stream_class = OneWayStream if stream_class == "OneWayStream" else stream_class

    with company_context(company_a), pytest.raises(UploadTooLarge, match="10 bytes upload limit"):
        store_stream(stream_class(b"x" * 11), name="generated.txt")

    assert file_count(company_a) == 0
    assert files_on_disk(tmp_path) == []


# Filenames


@pytest.mark.parametrize(
    ("given_name", "safe_name"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("/var/www/report.pdf", "report.pdf"),
        ("in\x01voice\r\n.pdf", "invoice.pdf"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("..", "file"),
        ('quo"te<>|*?.txt', "quo_te_.txt"),
    ],
)
def test_a_name_field_with_path_or_control_characters_is_stored_as_a_safe_basename(
    client_a, company_a, tmp_path, given_name, safe_name
):
    """The optional `name` is reduced to a basename, and the bytes stay inside A's directory."""
    response = upload(client_a, b"content", "upload.txt", name=given_name)

    assert response.status_code == 201, response.content
    assert response.json()["name"] == safe_name
    row = stored(File, response.json()["id"])
    on_disk = Path(storage().path(row.storage_key)).resolve()
    assert on_disk.is_relative_to(company_directory(tmp_path, company_a))
    assert on_disk.name == safe_name
    assert [path.resolve() for path in files_on_disk(tmp_path)] == [on_disk]


@pytest.mark.parametrize(
    ("sent_filename", "safe_name"),
    [("../../etc/passwd", "passwd"), ("..\\..\\win.ini", "win.ini"), ("a/../../b/../c.txt", "c.txt")],
)
def test_a_multipart_filename_with_traversal_lands_inside_the_company_directory(
    client_a, company_a, tmp_path, sent_filename, safe_name
):
    """A traversal filename sent in the multipart header is stored under A's prefix as a basename."""
    body, content_type = raw_multipart(sent_filename, b"root:x:0:0")

    response = client_a.post(FILES, data=body, content_type=content_type)

    assert response.status_code == 201, response.content
    assert response.json()["name"] == safe_name
    (on_disk,) = files_on_disk(tmp_path)
    assert on_disk.resolve().is_relative_to(company_directory(tmp_path, company_a))
    assert on_disk.read_bytes() == b"root:x:0:0"
    assert not (tmp_path.parent / "etc").exists()


@given(st.text())
def test_sanitized_names_are_always_safe_basenames(raw):
    """Whatever the input, the name is non-empty, one path segment, printable and within the byte cap."""
    name = sanitize_filename(raw)

    assert name and name not in {".", ".."}
    assert "/" not in name and "\\" not in name
    assert name.isprintable()
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert sanitize_filename(name) == name


def test_a_long_unicode_name_keeps_its_extension_within_the_byte_cap(client_a):
    """A file sent as a 300-character accented name is cut to the byte cap and keeps its extension."""
    response = upload(client_a, b"content", "é" * 300 + ".pdf")

    assert response.status_code == 201, response.content
    name = response.json()["name"]
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


def test_a_name_field_over_255_characters_is_a_400(client_a, company_a):
    """The `name` field is held to the schema's maxLength as sent, before it is sanitized."""
    response = upload(client_a, b"content", "x.txt", name="é" * 300 + ".pdf")

    assert response.status_code == 400, response.content
    assert "255" in response.json()["name"][0]
    assert file_count(company_a) == 0


def test_an_upload_names_its_folder_or_leaves_the_part_out_as_the_schema_says(client_a, company_a):
    """A form part cannot be null: the folder is a uuid, and "null" or "" is a 400, not the top level."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert schema["FileUploadRequest"]["properties"]["file"]["minLength"] == 1  # an empty file is a 400
    assert schema["FileUploadRequest"]["properties"]["folder"] == {
        "type": "string",
        "format": "uuid",
        "description": "Leave out for the top level.",
    }
    for folder in ("null", ""):
        response = upload(client_a, b"content", "x.txt", folder=folder)
        assert response.status_code == 400, response.content
        assert "folder" in response.json()
    assert file_count(company_a) == 0
    assert upload(client_a, b"content", "x.txt").json()["folder"] is None


def test_a_name_with_a_nul_character_is_a_400_on_upload_and_rename(client_a, company_a):
    """NUL is refused as sent (the schema says so), not silently dropped by the sanitizer."""
    response = upload(client_a, b"content", "x.txt", name="in\x00voice.pdf")

    assert response.status_code == 400, response.content
    assert "Null characters" in response.json()["name"][0]
    assert file_count(company_a) == 0

    file = FileFactory(company=company_a, name="draft.txt")
    renamed = client_a.patch(f"{FILES}/{file.pk}", {"name": "fi\x00nal.txt"}, format="json")

    assert renamed.status_code == 400, renamed.content
    assert stored(File, file.pk).name == "draft.txt"


# Rename, move, delete


def test_rename_and_move(client_a, client_b, company_a):
    """A renames (sanitized) and moves its file; B's identical PATCH is a 404 and changes nothing."""
    folder = FolderFactory(company=company_a, name="Contracts")
    file = FileFactory(company=company_a, name="draft.txt")
    change = {"name": "../final version.txt", "folder": str(folder.pk)}

    refused = client_b.patch(f"{FILES}/{file.pk}", change, format="json")
    assert refused.status_code == 404
    assert (stored(File, file.pk).name, stored(File, file.pk).folder_id) == ("draft.txt", None)

    response = client_a.patch(f"{FILES}/{file.pk}", change, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["folder"]) == ("final version.txt", str(folder.pk))
    assert (stored(File, file.pk).name, stored(File, file.pk).folder_id) == ("final version.txt", folder.pk)
    moved_back = client_a.patch(f"{FILES}/{file.pk}", {"folder": None}, format="json")
    assert moved_back.json()["folder"] is None


def test_content_fields_cannot_be_changed(client_a, company_a):
    """Type, size and SHA-256 describe the stored bytes: a PATCH naming them leaves them as they were."""
    file = FileFactory(company=company_a, content=b"original")
    before = stored(File, file.pk)

    response = client_a.patch(
        f"{FILES}/{file.pk}", {"content_type": "text/html", "size": 1, "sha256": "0" * 64}, format="json"
    )

    assert response.status_code == 200
    after = stored(File, file.pk)
    assert (after.content_type, after.size, after.sha256) == (before.content_type, before.size, before.sha256)


def test_delete_hides_the_file_and_keeps_its_bytes(client_a, client_b, company_a):
    """DELETE is a soft delete: gone from lists and downloads, the bytes kept for audit and documents."""
    file = FileFactory(company=company_a, content=b"keep for audit")

    assert client_b.delete(f"{FILES}/{file.pk}").status_code == 404
    assert not stored(File, file.pk).is_deleted

    assert client_a.delete(f"{FILES}/{file.pk}").status_code == 204

    assert stored(File, file.pk).is_deleted
    assert client_a.get(FILES).json()["count"] == 0
    assert client_a.get(f"{FILES}/{file.pk}/download").status_code == 404
    assert storage().open(stored(File, file.pk).storage_key).read() == b"keep for audit"


# Download


def test_download_streams_the_bytes_as_a_sanitized_attachment(client_a, client_b, company_a):
    """A downloads the bytes with the sniffed type, an attachment name and nosniff; B gets a 404."""
    file = FileFactory(company=company_a, name="Angebot für Köln.pdf", content=pdf_bytes())

    response = client_a.get(f"{FILES}/{file.pk}/download")
    foreign = client_b.get(f"{FILES}/{file.pk}/download")

    assert response.status_code == 200
    assert download_bytes(response) == pdf_bytes()
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''Angebot%20f%C3%BCr%20K%C3%B6ln.pdf"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert foreign.status_code == 404
    assert b"%PDF" not in foreign.content


def test_download_answers_a_strict_accept_header_and_its_404_is_json(client_a, client_b, company_a):
    """A client accepting only application/pdf gets the file, or a JSON 404, never a 406."""
    file = FileFactory(company=company_a, name="q.pdf", content=pdf_bytes())

    own = client_a.get(f"{FILES}/{file.pk}/download", HTTP_ACCEPT="application/pdf")
    foreign = client_b.get(f"{FILES}/{file.pk}/download", HTTP_ACCEPT="application/pdf")

    assert own.status_code == 200
    assert foreign.status_code == 404
    assert foreign.json()["detail"]


def test_download_of_html_content_is_never_rendered_inline(client_a, company_a):
    """HTML bytes are served as text/plain attachments with nosniff and a sandbox, so no script runs."""
    file = FileFactory(company=company_a, name="page.html", content=b"<script>alert(1)</script>")

    response = client_a.get(f"{FILES}/{file.pk}/download")

    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]


def test_anonymous_download_is_refused(company_a):
    """Without a login the authorized download endpoint answers 401 and no bytes."""
    file = FileFactory(company=company_a, content=b"secret")

    response = APIClient().get(f"{FILES}/{file.pk}/download")

    assert response.status_code == 401
    assert b"secret" not in response.content


# Signed links


def test_signed_link_downloads_without_login(client_a, company_a, public_base_url, settings):
    """POST /link answers a public URL and its expiry; anyone holding it downloads the file."""
    file = FileFactory(company=company_a, name="price list.csv", content=b"sku,price\n")
    before = datetime.now(UTC).replace(microsecond=0)

    response = client_a.post(f"{FILES}/{file.pk}/link")

    assert response.status_code == 200, response.content
    url, expires_at = response.json()["url"], datetime.fromisoformat(response.json()["expires_at"])
    assert url.startswith(f"{public_base_url}/api/public/files/")
    assert before + timedelta(seconds=settings.FILE_LINK_MAX_AGE_SECONDS) <= expires_at
    assert expires_at <= datetime.now(UTC) + timedelta(seconds=settings.FILE_LINK_MAX_AGE_SECONDS)
    download = APIClient().get(url.removeprefix(public_base_url))
    assert download.status_code == 200
    assert download_bytes(download) == b"sku,price\n"
    assert download["Content-Disposition"] == 'attachment; filename="price list.csv"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Referrer-Policy"] == "no-referrer"


def test_another_company_cannot_make_a_link_to_a_file(client_b, company_a):
    """Company B's POST /link on A's file id is a 404 with no URL."""
    file = FileFactory(company=company_a)

    response = client_b.post(f"{FILES}/{file.pk}/link")

    assert response.status_code == 404
    assert "url" not in response.json()


def test_a_link_names_only_its_own_file(client_a, client_b, company_a, company_b, public_base_url):
    """B's link serves B's file, A's link A's file: the token carries its own company and file."""
    file_a = FileFactory(company=company_a, content=b"from A")
    file_b = FileFactory(company=company_b, content=b"from B")

    url_a = client_a.post(f"{FILES}/{file_a.pk}/link").json()["url"]
    url_b = client_b.post(f"{FILES}/{file_b.pk}/link").json()["url"]

    assert download_bytes(client_b.get(url_a.removeprefix(public_base_url))) == b"from A"
    assert download_bytes(client_a.get(url_b.removeprefix(public_base_url))) == b"from B"


@pytest.mark.parametrize("tamper", ["signature", "payload", "other-salt", "garbage"])
def test_a_tampered_link_is_a_404(company_a, company_b, tamper):
    """A token with a changed signature or payload, or signed for another purpose, serves nothing."""
    file_a = FileFactory(company=company_a, content=b"A's secret")
    file_b = FileFactory(company=company_b, content=b"B's secret")
    token = signed_download_token(file_a)
    forged = {
        "signature": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "payload": signing.dumps({"f": str(file_b.pk), "c": str(company_b.pk)}, salt="files.download")[:-6]
        + token[-6:],
        "other-salt": signing.dumps({"f": str(file_a.pk), "c": str(company_a.pk)}, salt="documents.signing"),
        "garbage": "not-a-token",
    }[tamper]

    response = APIClient().get(f"/api/public/files/{forged}")

    assert response.status_code == 404
    assert response.json()["detail"] == "This download link is not valid."
    assert b"secret" not in response.content


def test_an_expired_link_is_a_410(client_a, company_a, public_base_url, settings):
    """A link older than FILE_LINK_MAX_AGE_SECONDS is refused with 410 and a message saying so."""
    settings.FILE_LINK_MAX_AGE_SECONDS = 1
    file = FileFactory(company=company_a, content=b"short-lived")
    url = client_a.post(f"{FILES}/{file.pk}/link").json()["url"]

    time.sleep(1.1)
    response = APIClient().get(url.removeprefix(public_base_url))

    assert response.status_code == 410
    assert "expired" in response.json()["detail"]
    assert b"short-lived" not in response.content


def test_a_link_to_a_file_deleted_since_is_a_404(client_a, company_a, public_base_url):
    """Deleting the file revokes its links."""
    file = FileFactory(company=company_a, content=b"withdrawn")
    url = client_a.post(f"{FILES}/{file.pk}/link").json()["url"]
    assert client_a.delete(f"{FILES}/{file.pk}").status_code == 204

    response = APIClient().get(url.removeprefix(public_base_url))

    assert response.status_code == 404
    assert b"withdrawn" not in response.content


def test_a_link_of_a_deactivated_company_is_a_404(client_a, company_a, public_base_url):
    """A company switched off serves no public links."""
    file = FileFactory(company=company_a, content=b"dormant")
    url = client_a.post(f"{FILES}/{file.pk}/link").json()["url"]
    company_a.is_active = False
    with as_the_platform_unaudited():
        company_a.save()

    response = APIClient().get(url.removeprefix(public_base_url))

    assert response.status_code == 404


# Admin


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_pages_open_for_company_staff_and_super_admins(user_a, super_admin, company_a):
    """The file changelist, upload form and change form answer 200 for a company user and the platform."""
    file = FileFactory(company=company_a)
    for user in (user_a, super_admin):
        client = browser(user)
        for url in ("/admin/files/file/", "/admin/files/file/add/", f"/admin/files/file/{file.pk}/change/"):
            assert client.get(url).status_code == 200, (user, url)


def test_admin_upload_stores_a_sniffed_file_in_the_company(user_a, company_a, company_b, tmp_path):
    """An upload in the admin goes through the service: sniffed type, SHA-256, A's prefix."""
    response = browser(user_a).post(
        "/admin/files/file/add/", {"upload": SimpleUploadedFile("logo.pdf", PNG), "name": "", "folder": ""}
    )

    assert response.status_code == 302, response.content
    with company_context(company_a):
        file = File.objects.get()
    assert (file.name, file.content_type, file.sha256) == (
        "logo.pdf",
        "image/png",
        hashlib.sha256(PNG).hexdigest(),
    )
    assert file.user_id == user_a.pk
    assert (
        Path(storage().path(file.storage_key))
        .resolve()
        .is_relative_to(company_directory(tmp_path, company_a))
    )
    assert file_count(company_b) == 0


def test_admin_upload_over_the_limit_is_a_form_error(user_a, company_a, settings, tmp_path):
    """The admin says the file is too large and stores nothing."""
    settings.FILE_UPLOAD_MAX_BYTES = 10

    response = browser(user_a).post(
        "/admin/files/file/add/", {"upload": SimpleUploadedFile("big.txt", b"x" * 11)}
    )

    assert response.status_code == 200
    assert "upload limit" in response.content.decode()
    assert file_count(company_a) == 0
    assert files_on_disk(tmp_path) == []


def test_admin_download_serves_only_the_company_files(user_a, user_b, company_a):
    """A's staff download A's file from the admin; B's staff are turned away without the bytes."""
    file = FileFactory(company=company_a, content=b"admin bytes")

    own = browser(user_a).get(f"/admin/files/file/{file.pk}/download/")
    foreign = browser(user_b).get(f"/admin/files/file/{file.pk}/download/")

    assert own.status_code == 200
    assert download_bytes(own) == b"admin bytes"
    assert foreign.status_code == 302
    assert b"admin bytes" not in foreign.content


# Demo data


def test_demo_files_are_stored_with_real_bytes(company_a, company_b, user_a):
    """seed_files stores a small tree whose files sniff as what they are and match their SHA-256."""
    with company_context(company_a):
        counts = seed_files(company_a, [user_a], random.Random(7), 10)
        files = {file.name: file for file in File.objects.all()}
        assert counts == {"folders": Folder.objects.count(), "files": len(files)}
        assert all(current_sha256(file) == file.sha256 for file in files.values())
    assert files["master-services-agreement.pdf"].content_type == "application/pdf"
    assert files["logo.png"].content_type == "image/png"
    assert files["price-list-2026.csv"].content_type == "text/plain"
    assert file_count(company_b) == 0


class OneWayStream(io.RawIOBase):
    """A stream that cannot rewind, as a pipe or a socket."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_the_service_stores_a_stream_that_cannot_rewind(company_a):
    """Content read from a one-way stream is stored whole, with the SHA-256 of what was read."""
    from files.services import read_bytes, store_stream

    content = b"%PDF-" + b"x" * 200_000

    with company_context(company_a):
        file = store_stream(OneWayStream(content), name="piped.pdf")
        assert read_bytes(file) == content
    assert (file.size, file.sha256, file.content_type) == (
        len(content),
        hashlib.sha256(content).hexdigest(),
        "application/pdf",
    )


def test_super_admin_upload_lands_in_the_chosen_company(super_admin, company_a, company_b, tmp_path):
    """A super admin's admin upload is stored for the company picked in the form, under its prefix."""
    response = browser(super_admin).post(
        "/admin/files/file/add/",
        {"company": str(company_b.pk), "upload": SimpleUploadedFile("rates.csv", b"a,b\n"), "folder": ""},
    )

    assert response.status_code == 302, response.content
    assert file_count(company_a) == 0
    with company_context(company_b):
        file = File.objects.get()
    assert file.user_id == super_admin.pk
    assert (
        Path(storage().path(file.storage_key))
        .resolve()
        .is_relative_to(company_directory(tmp_path, company_b))
    )
