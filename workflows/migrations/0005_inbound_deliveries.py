"""The deliveries inbound hooks took in (replays are refused), with the tenant table's protections.

A new, empty tenant table: its composite keys and row-level security are added here, for this table
alone, so no other table's policy or keys are touched. Not atomic: the composite unique index is
built concurrently, as for every tenant table.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

from tenancy.rls import AddCompositeTenantKeys, EnableTenantRowLevelSecurity

TABLE = "workflow_deliveries"


class DeliveriesCompositeKeys(AddCompositeTenantKeys):
    """UNIQUE (company_id, id) of the deliveries and their composite key to workflows."""

    def describe(self):
        return f"Add the composite tenant keys of {TABLE}"

    def forwards(self, schema_editor, models):
        # Workflows are named too, so the delivery's key to them is found; theirs exist and are kept.
        super().forwards(schema_editor, [m for m in models if m._meta.db_table in (TABLE, "workflows")])

    def backwards(self, schema_editor, models):
        super().backwards(schema_editor, [m for m in models if m._meta.db_table == TABLE])


class DeliveriesRowLevelSecurity(EnableTenantRowLevelSecurity):
    """Row-level security on the deliveries, with the tenant policy."""

    def describe(self):
        return f"Enable and force row-level security on {TABLE}"

    def forwards(self, schema_editor, models):
        super().forwards(schema_editor, [m for m in models if m._meta.db_table == TABLE])

    def backwards(self, schema_editor, models):
        super().backwards(schema_editor, [m for m in models if m._meta.db_table == TABLE])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tenancy", "0005_audit_identities_differ"),
        ("workflows", "0004_enforce_company"),
    ]

    operations = [
        migrations.CreateModel(
            name="WorkflowDelivery",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("is_deleted", models.BooleanField(default=False)),
                ("delivery_id", models.CharField(max_length=100)),
                (
                    "signed_at",
                    models.DateTimeField(help_text="The time the sender signed, from its signature."),
                ),
                (
                    "company",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenancy.company"
                    ),
                ),
                (
                    "workflow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="workflows.workflow"
                    ),
                ),
            ],
            options={
                "db_table": TABLE,
                "ordering": ["-created_at"],
                "abstract": False,
                "constraints": [
                    models.UniqueConstraint(
                        fields=("company", "workflow", "delivery_id"), name="workflow_delivery_received_once"
                    )
                ],
            },
        ),
        DeliveriesCompositeKeys(),
        DeliveriesRowLevelSecurity(),
    ]
