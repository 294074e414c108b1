"""Per-item errors of a list (conditions, actions), shaped as their 400 body states them."""


class ItemErrors:
    """Per-item errors of a list: {"<index>": {"<key>": ["message", ...]}}."""

    def __init__(self):
        self.items: dict[str, dict[str, list[str]]] = {}

    def add(self, index: int, key: str, message: str) -> None:
        self.items.setdefault(str(index), {}).setdefault(key, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def objects(self, items: list, *, keys: set[str], not_an_object: str, unknown_key: str):
        """Each item that is an object, as (index, item); other items and unknown keys are noted as errors."""
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                self.add(index, "non_field_errors", not_an_object)
                continue
            for key in sorted(set(item) - keys):
                self.add(index, key, unknown_key)
            yield index, item
