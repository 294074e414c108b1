"""Errors raised when tenant isolation would be broken."""


class TenancyError(Exception):
    """Base class for tenant isolation errors."""


class NoTenantContext(TenancyError):
    """A tenant-scoped query or write ran with no company in the context."""


class CrossTenantWrite(TenancyError):
    """A write would store a row of another company, or point at one."""
