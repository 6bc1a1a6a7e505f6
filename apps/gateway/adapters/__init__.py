"""One adapter per provider route family; see `base.Adapter` for the interface."""

from apps.gateway.adapters.anthropic import Messages, SidecarMessages
from apps.gateway.adapters.base import Adapter, Plan, Rendered
from apps.gateway.adapters.gemini import GenerateContent, SidecarGenerateContent
from apps.gateway.adapters.openai import ChatCompletions, Responses

CHAT = ChatCompletions()
RESPONSES = Responses()
MESSAGES = Messages()
ANTHROPIC_RUN = SidecarMessages()
GEMINI_V1BETA = GenerateContent("v1beta")
GEMINI_V1 = GenerateContent("v1")
GEMINI_RUN = SidecarGenerateContent("v1beta")
GEMINI_STREAM_V1BETA = GenerateContent("v1beta", stream=True)
GEMINI_STREAM_V1 = GenerateContent("v1", stream=True)

__all__ = ["Adapter", "Plan", "Rendered", "CHAT", "RESPONSES", "MESSAGES", "ANTHROPIC_RUN", "GEMINI_V1BETA",
           "GEMINI_V1", "GEMINI_RUN", "GEMINI_STREAM_V1BETA", "GEMINI_STREAM_V1"]
