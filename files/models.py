"""Files and folders, stored through Django's storage API under a per-company prefix."""

from django.conf import settings
from django.db import models

from tenancy.models import TenantModel
from tenancy.roles import RECORDS


class Folder(TenantModel):
    """A folder in the company's tree; names are unique within a parent."""

    role_rule = RECORDS

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )

    class Meta(TenantModel.Meta):
        db_table = "folders"
        ordering = ["name"]
        indexes = [models.Index(fields=["company", "name"], name="folders_company_name")]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "parent", "name"],
                condition=models.Q(is_deleted=False, parent__isnull=False),
                name="folder_name_unique_in_parent",
            ),
            # NULLs are distinct in a unique index, so top-level folders need their own rule.
            models.UniqueConstraint(
                fields=["company", "name"],
                condition=models.Q(is_deleted=False, parent__isnull=True),
                name="folder_name_unique_at_top",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class File(TenantModel):
    """An uploaded file: its sanitized name, sniffed type, size and SHA-256."""

    role_rule = RECORDS

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=500, unique=True, help_text="Path in the storage backend.")

    class Meta(TenantModel.Meta):
        db_table = "files"
        ordering = ["name"]
        indexes = [
            models.Index(fields=["company", "name"], name="files_company_name"),
            models.Index(fields=["company", "folder", "name"], name="files_company_folder_name"),
            models.Index(fields=["company", "sha256"], name="files_company_sha256"),
        ]

    def __str__(self) -> str:
        return self.name
