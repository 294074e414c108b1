"""Tables of Django's database cache, which carries state every server process must share without Redis."""

from django.db import models


class DatabaseCacheTable(models.Model):
    """The columns Django's DatabaseCache reads and writes."""

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.cache_key


class RevocationCacheEntry(DatabaseCacheTable):
    """Signed-out tokens and sign-ins, refused by every process until they would have expired."""

    class Meta:
        db_table = "cache_revocations"


class SignInFailureCacheEntry(DatabaseCacheTable):
    """Recent failed sign-ins per address and account, counted across every process."""

    class Meta:
        db_table = "cache_sign_in_failures"
