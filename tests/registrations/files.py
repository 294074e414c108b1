"""Isolation-matrix registrations of files: folders, and files uploaded as multipart."""

from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import File, Folder

from ..factories import FileFactory, FolderFactory
from ..isolation import Registration


def folder_payload(company) -> dict:
    # Top level: a parent made here would be a folder row the matrix counts as stored by a refused POST.
    return {"name": "Contracts"}


def file_payload(company) -> dict:
    return {
        "file": SimpleUploadedFile("terms.txt", b"Terms and conditions.\n", content_type="text/plain"),
        "name": "terms.txt",
        "folder": str(FolderFactory(company=company).id),
    }


REGISTRATIONS = {
    Folder: Registration(FolderFactory, folder_payload),
    File: Registration(FileFactory, file_payload, format="multipart"),
}
