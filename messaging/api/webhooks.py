"""Twilio's SMS webhooks: inbound texts and delivery status callbacks, signed per company."""

from django.http import HttpResponse, HttpResponseBadRequest

from ..services import sms
from ..twilio import TwilioWebhookView, empty_twiml


class InboundSmsWebhook(TwilioWebhookView):
    """A text to one of our numbers: stored once per MessageSid, STOP/START applied, owner notified."""

    number_param = "To"

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid")
        if not sid:
            return HttpResponseBadRequest("MessageSid is missing.")
        sms.receive_sms(
            phone_number,
            sid=sid,
            from_number=request.POST.get("From", ""),
            body=request.POST.get("Body", ""),
        )
        return empty_twiml()


class SmsStatusWebhook(TwilioWebhookView):
    """Twilio reporting the delivery of a text we sent; an unknown MessageSid is acknowledged and ignored."""

    number_param = "From"

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid")
        if not sid:
            return HttpResponseBadRequest("MessageSid is missing.")
        sms.record_status(
            sid=sid,
            status=request.POST.get("MessageStatus") or request.POST.get("SmsStatus", ""),
            error_code=request.POST.get("ErrorCode", ""),
        )
        return empty_twiml()
