#!/bin/sh
# Builds the French voice of the audio cryptogramme (voice/fr/), read by captcha.render_audio.
#
# Run ONCE by a developer when the alphabet changes; the files are committed and the application never
# needs espeak-ng or sox at run time. Requirements (Debian): apt-get install -y espeak-ng sox
#
#   sh src/compte_citoyen/authentication/voice/make_voice.sh
#
# Layout and format are those of captcha.audio.AudioCaptcha(voicedir=...): one sub-folder per character
# (named by the character, upper case), holding one or more .wav files of that character spoken; the
# package reads the raw frames and glues them to its own 8 kHz, mono, 8-bit unsigned PCM header, so every
# file MUST be 8000 Hz, 1 channel, 8-bit unsigned PCM. AudioCaptcha picks one file at random per
# character, hence two voices (male "fr", female "fr+f3") per character.
#
# Each letter is spoken with the French spelling alphabet ("pé, comme Pierre"): over a noisy 8 kHz
# channel the letters C D G P T V (all "-é") or M / N sound alike, and the word settles which one it is.
# The characters are exactly captcha.ALPHABET (tests/functional/test_captcha_audio.py checks it): change
# both together.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/fr"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# character|what is said (espeak-ng reads a capital letter alone as its French name)
SPOKEN='A|A, comme Anatole
C|C, comme Célestin
D|D, comme Désiré
E|E, comme Eugène
F|F, comme François
G|G, comme Gaston
H|H, comme Henri
J|J, comme Joseph
K|K, comme Kléber
M|M, comme Marcel
N|N, comme Nicolas
P|P, comme Pierre
Q|Q, comme Quentin
R|R, comme Raoul
T|T, comme Thérèse
U|U, comme Ursule
V|V, comme Victor
W|W, comme William
X|X, comme Xavier
Y|Y, comme Yvonne
3|trois
4|quatre
6|six
7|sept
9|neuf'

# voice file name|espeak-ng voice|words per minute
VOICES='homme|fr|145
femme|fr+f3|140'

rm -rf "$OUT"
mkdir -p "$OUT"
echo "$SPOKEN" | while IFS='|' read -r char text; do
    mkdir -p "$OUT/$char"
    echo "$VOICES" | while IFS='|' read -r name voice speed; do
        espeak-ng -v "$voice" -s "$speed" -w "$TMP/raw.wav" "$text"
        # trim the silence at both ends, normalise to -1 dBFS, then 8 kHz mono 8-bit unsigned PCM
        sox "$TMP/raw.wav" -r 8000 -c 1 -b 8 -e unsigned-integer "$OUT/$char/$name.wav" \
            silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -1
    done
done
echo "French voice written to $OUT ($(du -sh "$OUT" | cut -f1))"
