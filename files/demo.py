"""Deterministic demo folders and files, stored through the files service so downloads work."""

import io
import random
import struct
import zlib

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from crm.demo import seeded_uuid

from . import services
from .models import Folder

# (path of the folder, or "" for the top level; file name; content builder)
DEMO_FILES = [
    ("Contracts/2025", "master-services-agreement.pdf", "agreement_pdf"),
    ("Contracts", "nda-template.txt", "nda_text"),
    ("Marketing", "logo.png", "logo_png"),
    ("Price lists", "price-list-2026.csv", "price_list_csv"),
    ("", "welcome.txt", "welcome_text"),
]


def agreement_pdf(company) -> bytes:
    """A one-page agreement; reportlab's invariant mode makes the bytes the same on every run."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    page.setTitle(f"Master services agreement - {company.name}")
    page.setFont("Helvetica-Bold", 16)
    page.drawString(72, 770, "Master services agreement")
    page.setFont("Helvetica", 11)
    page.drawString(72, 740, f"Between {company.name} and its customer.")
    page.drawString(72, 722, "Services are provided as described in the accepted quote.")
    page.showPage()
    page.save()
    return buffer.getvalue()


def nda_text(company) -> bytes:
    return (
        f"Mutual non-disclosure agreement\n\n{company.name} and the recipient agree to keep "
        "each other's confidential information secret for three years.\n"
    ).encode()


def logo_png(company) -> bytes:
    """A 16x16 PNG in a colour derived from the company's slug."""
    red, green, blue = zlib.crc32(company.slug.encode()).to_bytes(4, "big")[:3]
    rows = b"".join(b"\x00" + bytes([red, green, blue]) * 16 for _ in range(16))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def price_list_csv(company) -> bytes:
    rows = ["sku,product,unit_price,currency", "CRM-SEAT,CRM seat (monthly),29.00,EUR"]
    rows += ["CRM-ONB,Onboarding package,1500.00,EUR", "CRM-SUP,Premium support (yearly),4800.00,EUR"]
    return ("\n".join(rows) + "\n").encode()


def welcome_text(company) -> bytes:
    return f"Welcome to {company.name}'s shared files: contracts, price lists and brand assets.\n".encode()


BUILDERS = {
    "agreement_pdf": agreement_pdf,
    "nda_text": nda_text,
    "logo_png": logo_png,
    "price_list_csv": price_list_csv,
    "welcome_text": welcome_text,
}


def seed_files(company, users, rng: random.Random, per_company: int) -> dict[str, int]:
    """A small folder tree with a contract PDF, a text, an image and a price list for one company."""
    owner = users[0]
    folders: dict[str, Folder] = {}
    for folder_path, _, _ in DEMO_FILES:
        parts = [part for part in folder_path.split("/") if part]
        for depth in range(len(parts)):
            key = "/".join(parts[: depth + 1])
            if key not in folders:
                folders[key] = Folder(
                    id=seeded_uuid(rng),
                    company=company,
                    user=owner,
                    name=parts[depth],
                    parent=folders.get("/".join(parts[:depth])),
                )
    Folder.objects.bulk_create(folders.values())
    for folder_path, name, builder in DEMO_FILES:
        services.store_bytes(
            BUILDERS[builder](company),
            name=name,
            folder=folders.get(folder_path),
            user=rng.choice(users),
            file_id=seeded_uuid(rng),
        )
    return {"folders": len(folders), "files": len(DEMO_FILES)}
