"""JSON rendering that cannot fail on text the request itself brought in."""

from rest_framework.renderers import JSONRenderer


class SurrogateSafeJSONRenderer(JSONRenderer):
    """DRF's JSON renderer; a lone surrogate echoed in an error message is escaped (\\ud800), not a 500.

    DRF writes non-ASCII text as UTF-8, which has no encoding for a lone surrogate; a request can bring
    one in as the JSON escape "\\ud800" and a validation message may quote it back.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True  # this instance renders one response
            return super().render(data, accepted_media_type, renderer_context)
