"""Hidden code: a decoder chain over a literal is read, and what it hides is judged as PHP."""
import base64
import zlib

from tests.support.families import php_family


def _packed(code):
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(raw.compress(code) + raw.flush())


def test_decoded_code_that_runs_request_input():
    found = php_family(b"<?php eval(gzinflate(base64_decode('" + _packed(b'system($_GET[1]);') +
                       b"')));", 'decoded')
    assert found['php.obfuscation.decoded_code'] == [6]
    assert found['php.exec.request_input'] == [15]         # the payload, analysed as PHP


def test_a_decoded_text_is_only_a_note():
    found = php_family(b"<?php echo gzinflate(base64_decode('" + _packed(b'hello world') +
                       b"'));", 'decoded')
    assert found == {'php.obfuscation.decoder_chain': [4]}
