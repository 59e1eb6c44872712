"""The audio cryptogramme speaks French: voice files of ``authentication/voice/fr``, one challenge per sound."""
from __future__ import annotations

import io
import os
import re
import wave

import pytest
from captcha import audio as captcha_audio

from compte_citoyen.authentication import captcha

VOICE_DIR = captcha.VOICE_DIR
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def french_answer(settings):
    """A fixed answer drawn from the alphabet (the shared FIXED_CAPTCHA has characters it never uses)."""
    settings["compte_citoyen.captcha.fixed_answer"] = "PM7TA"
    return "PM7TA"


@pytest.fixture
def random_answers(settings):
    settings["compte_citoyen.captcha"] = "image"


@pytest.fixture
def fresh_voice(monkeypatch):
    """A new AudioCaptcha for this test, recording which files it loads and which characters it says."""
    monkeypatch.setattr(captcha, "_audio_generator", None)
    loaded, said = [], []
    read = captcha_audio._read_wave_file
    twist = captcha_audio.AudioCaptcha._twist_pick

    def spy_read(path):
        loaded.append(path)
        return read(path)

    def spy_twist(self, key):
        said.append(key)
        return twist(self, key)

    monkeypatch.setattr(captcha_audio, "_read_wave_file", spy_read)
    monkeypatch.setattr(captcha_audio.AudioCaptcha, "_twist_pick", spy_twist)
    return loaded, said


def registration_page(testapp):
    terms = testapp.get("/creer-votre-compte")
    form = terms.forms["accept-terms-form"]
    form["accept"] = "yes"
    return form.submit().follow()


def audio_path(page) -> str:
    match = re.search(r'<a href="http://localhost(/cryptogramme/[^"]+\.wav)" type="audio/wav">([^<]*)</a>', page.text)
    assert match, "no audio link"
    return match.group(1)


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1][:-len(".wav")]


def wav_params(body: bytes) -> wave._wave_params:
    assert body[:4] == b"RIFF" and body[8:16] == b"WAVEfmt "
    with wave.open(io.BytesIO(body)) as w:
        return w.getparams()


# --- the voice files --------------------------------------------------------------------------------

def test_voice_covers_exactly_the_alphabet_in_the_format_audiocaptcha_reads():
    folders = sorted(os.listdir(VOICE_DIR))
    assert folders == sorted(captcha.ALPHABET)
    # no look-alike characters in the alphabet
    assert not set("0O1IL5S2Z8B") & set(captcha.ALPHABET)
    total = 0
    for char in folders:
        files = [f for f in os.listdir(os.path.join(VOICE_DIR, char)) if f.endswith(".wav")]
        assert len(files) >= 1, char
        for name in files:
            path = os.path.join(VOICE_DIR, char, name)
            total += os.path.getsize(path)
            with wave.open(path) as w:
                assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == \
                    (1, 1, 8000, "NONE"), path
                assert 0.2 < w.getnframes() / 8000 < 2.5, path  # a spoken character, silence trimmed
    assert total < 1_500_000
    assert os.path.exists(os.path.join(os.path.dirname(VOICE_DIR), "make_voice.sh"))


def test_manifest_ships_the_voice():
    with open(os.path.join(PROJECT_ROOT, "MANIFEST.in"), encoding="utf-8") as f:
        assert "graft src/compte_citoyen/authentication/voice" in f.read().splitlines()


# --- the audio route ---------------------------------------------------------------------------------

def test_audio_link_is_in_french(testapp):
    page = registration_page(testapp)
    match = re.search(r'type="audio/wav">([^<]*)</a>', page.text)
    assert match.group(1) == "Écouter le cryptogramme"
    assert "anglais" not in page.text


def test_audio_spells_the_current_challenge_with_the_french_voice(french_answer, testapp, fresh_voice):
    loaded, said = fresh_voice
    page = registration_page(testapp)
    response = testapp.get(audio_path(page))
    assert response.content_type == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    params = wav_params(response.body)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 1, 8000)
    # built from the French voice folder only, saying the challenge's characters in order
    assert loaded and all(os.path.dirname(os.path.dirname(p)) == VOICE_DIR for p in loaded)
    assert said == list(french_answer)
    # beeps, five spoken characters with pauses of at least a second: longer than 5 s
    assert params.nframes / params.framerate > 5


def test_each_challenge_has_its_own_sound_and_a_used_one_has_none(random_answers, testapp, portal_tx, fresh_voice):
    _loaded, said = fresh_voice
    first = audio_path(registration_page(testapp))
    second_page = registration_page(testapp)
    second = audio_path(second_page)
    with portal_tx() as portal:
        store = portal[captcha.FOLDER]
        answers = [store.peek(captcha._hash(token_of(p)), captcha.now()) for p in (first, second)]
    assert all(answers) and answers[0] != answers[1]
    for path, answer in zip((first, second), answers):
        del said[:]
        assert testapp.get(path).body[:4] == b"RIFF"
        assert "".join(said) == answer and set(answer) <= set(captcha.ALPHABET)
    # submitting the second form consumes its challenge (wrong answer): its sound is gone, the first stays
    form = second_page.forms["register"]
    form["answer"] = "ZZZZZ"
    assert form.submit("save").status_int == 200
    testapp.get(second, status=404)
    assert testapp.get(first).status_int == 200
    # unknown and expired challenges have no sound either
    testapp.get("/cryptogramme/not-a-token.wav", status=404)


def test_expired_challenge_has_no_sound(testapp, monkeypatch):
    path = audio_path(registration_page(testapp))
    later = captcha.now() + captcha.TTL + 1
    monkeypatch.setattr(captcha, "now", lambda: later)
    testapp.get(path, status=404)


def test_character_without_recording_is_left_out_not_fatal(fresh_voice):
    _loaded, said = fresh_voice
    body = captcha.render_audio("AB1C")  # B and 1 are not in the alphabet (only a test answer can hold them)
    assert body[:4] == b"RIFF" and said == ["A", "C"]
    with pytest.raises(ValueError):
        captcha.render_audio("B1")
