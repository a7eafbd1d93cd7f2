"""OpenAIProtocol: every malformed server message raises a DecodeError naming what was wrong, and leaves the state as it was."""

from __future__ import annotations

from typing import Any

import pytest

from adk_realtime.sansio.errors import DecodeError
from tests.codec_io import decode
from tests.test_openai_protocol import audio_delta, msg, proto, snapshot


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        ("[1,2]", "must be a JSON object"),
        ('{"x":1}', "'type'"),
        ('{"type":5}', "'type'"),
        ('{"type":"response.output_audio.delta","item_id":"i"}', "'delta'"),
        ('{"type":"response.output_audio.delta","delta":5}', "'delta'"),
        ('{"type":"response.output_audio.delta","item_id":"i","delta":{"b":"AAAA"}}', "'delta'"),
        ('{"type":"response.output_text.delta","delta":["a"]}', "'delta'"),
        ('{"type":"response.created","response":{"id":7}}', "'id'"),
        ('{"type":"response.done","response":{"usage":{"total_tokens":"9"}}}', "total_tokens"),
        ('{"type":"error","error":{"code":{"x":1}}}', "'code'"),
        ('{"type":"response.output_audio.delta","item_id":"i","delta":"!!!!"}', "base64"),
        ('{"type":"response.output_audio.delta","item_id":7,"delta":"AAAA"}', "'item_id'"),
        (
            '{"type":"response.audio.delta","item_id":"i","delta":"AAAA","content_index":"0"}',
            "'content_index'",
        ),
        ('{"type":"response.done","response":[]}', "'response'"),
        ('{"type":"response.done","response":{"usage":{"input_tokens":true}}}', "input_tokens"),
        ('{"type":"response.function_call_arguments.done","call_id":"c"}', "'arguments'"),
        (
            '{"type":"response.output_item.added","item":{"type":"function_call","name":"f"}}',
            "'call_id'",
        ),
        ('{"type":"rate_limits.updated","rate_limits":[1]}', "rate_limits"),
        ('{"type":"error","error":{"message":3}}', "'message'"),
        ('{"type":"session.created","session":{"id":1}}', "'id'"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_messages_raise_decode_error_naming_what_was_wrong(data: Any, needle: str) -> None:
    p = proto()
    decode(p, audio_delta("item_a", 480))
    decode(p, msg("response.function_call_arguments.delta", call_id="c", delta="{"))
    before = snapshot(p)
    with pytest.raises(DecodeError, match=needle.replace("(", r"\(")) as info:
        decode(p, data)
    assert len(str(info.value)) < 300
    assert snapshot(p) == before
