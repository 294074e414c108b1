"""Twilio voice webhooks: inbound calls, the ring result, voicemail recordings, status, click-to-call.

Each view is a signed TwilioWebhookView: the company comes from our number, and a request that is
unsigned or signed with any other token gets 403 before anything is read or written. Callbacks
name our number in the signed URL (`?number=`), because on an outbound call Twilio's `To` is the
person called; inbound calls name it in `To`.
"""

import uuid

from django.http import HttpResponse, HttpResponseBadRequest
from twilio.twiml.voice_response import VoiceResponse

from messaging.twilio import TwilioWebhookView, empty_twiml, twiml_response

from .. import services

RING_SECONDS = 20
VOICEMAIL_MAX_SECONDS = 120
VOICEMAIL_GREETING = (
    "Sorry, nobody is available to take your call. Please leave a message after the tone, "
    "and we will call you back."
)


def ring_twiml(phone: str, *, our_number: str) -> VoiceResponse:
    """Ring a user's phone; Twilio reports the result to dial-status."""
    response = VoiceResponse()
    dial = response.dial(timeout=RING_SECONDS, action=services.webhook_url("dial-status", number=our_number))
    dial.number(phone)
    return response


def voicemail_twiml(*, our_number: str) -> VoiceResponse:
    """Greet the caller and record a message; the recording is reported to the recording webhook."""
    recording_url = services.webhook_url("recording", number=our_number)
    response = VoiceResponse()
    response.say(VOICEMAIL_GREETING)
    response.record(
        max_length=VOICEMAIL_MAX_SECONDS, action=recording_url, recording_status_callback=recording_url
    )
    response.hangup()
    return response


def hangup_twiml() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


class CallbackView(TwilioWebhookView):
    """A voice callback whose company comes from `?number=` in the URL we gave Twilio."""

    number_param = "number"  # Twilio never posts a `number` field, so the signed URL's ?number= decides.


class InboundCallView(TwilioWebhookView):
    """A call to one of our numbers: ring its owner, or take a voicemail when nobody can answer."""

    number_param = "To"

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        call_sid = request.POST.get("CallSid", "")
        if not call_sid:
            return HttpResponseBadRequest("CallSid is required.")
        answer = services.answer_inbound_call(
            phone_number, call_sid=call_sid, from_number=request.POST.get("From", "")[:16]
        )
        if answer.call is None:
            return twiml_response(hangup_twiml())
        if answer.ring is None:
            return twiml_response(voicemail_twiml(our_number=phone_number.number))
        return twiml_response(ring_twiml(answer.ring, our_number=phone_number.number))


class DialStatusView(CallbackView):
    """The owner's phone stopped ringing: answered, or missed and on to voicemail."""

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        call = services.record_dial_result(
            request.POST.get("CallSid", ""),
            dial_status=request.POST.get("DialCallStatus", ""),
            dial_duration=request.POST.get("DialCallDuration", ""),
        )
        if call is not None and services.is_missed(call):
            return twiml_response(voicemail_twiml(our_number=phone_number.number))
        return twiml_response(hangup_twiml())


class RecordingView(CallbackView):
    """A finished recording (the <Record> action and its status callback both arrive here)."""

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        services.store_recording(
            request.POST.get("CallSid", ""),
            recording_sid=request.POST.get("RecordingSid", ""),
            recording_url=request.POST.get("RecordingUrl", ""),
            duration=request.POST.get("RecordingDuration", ""),
        )
        return twiml_response(hangup_twiml())


class CallStatusView(CallbackView):
    """Twilio's progress report of a call: status, answer and end times, duration."""

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        services.apply_status_callback(
            request.POST.get("CallSid", ""),
            status=request.POST.get("CallStatus", ""),
            duration=request.POST.get("CallDuration", ""),
            timestamp=request.POST.get("Timestamp", ""),
        )
        return empty_twiml()


class ConnectView(CallbackView):
    """The caller answered a click-to-call: connect them to the contact, from our number."""

    def handle(self, request, phone_number, *args, **kwargs) -> HttpResponse:
        try:
            call_id = str(uuid.UUID(request.GET.get("call", "")))
        except ValueError:
            return empty_twiml()
        call = services.outbound_call_to_connect(call_id, call_sid=request.POST.get("CallSid", ""))
        if call is None:
            return empty_twiml()
        response = VoiceResponse()
        dial = response.dial(caller_id=call.from_number)
        dial.number(call.to_number)
        return twiml_response(response)
