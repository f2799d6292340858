#!/bin/bash
# The ImageNet evaluation with lltd's default attacks, timed: the full run (--adaptive, with the
# seed's DeepFool/Inception-v3 examples as a precomputed set) into bench/evaluate-imagenet, the
# CI-sized --quick run into bench/evaluate-imagenet/quick. From the repository root:
#
#     bash bench/evaluate-imagenet/run.sh [full|quick|both|n40]      (default: both)
#
# n40: both ImageNet sets (the seed's 20 and foolbox's 20) at 4/255 into bench/evaluate-imagenet/n40.
#
# PYTHON (default: python) runs lltd; SEED_DATA (default: ../shared/seed-data) holds the images.
# Each time.txt gets the load average before and after, and /usr/bin/time -v of the run.
set -euo pipefail
PYTHON=${PYTHON:-python}
SEED=${SEED_DATA:-../shared/seed-data}
HERE=bench/evaluate-imagenet
COMMON=(--model efficientnet-lite0 --data "$SEED/original" --synsets "$SEED/synset_words.txt"
    --adaptive --device cpu)

timed() {  # timed OUT_DIR ARG...: one evaluate run into OUT_DIR, timed into OUT_DIR/time.txt
    local out=$1
    shift
    mkdir -p "$out"
    local log="$out/time.txt.part" usage="$out/.usage.part"
    {
        echo "# load average at start and end ($(nproc) cores)"
        echo "# $(uptime)"
        echo "# $(date -u)"
    } >"$log"
    /usr/bin/time -v -o "$usage" "$PYTHON" -m lltd evaluate "${COMMON[@]}" "$@" -o "$out"
    {
        echo "# $(uptime)"
        echo "# $(date -u)"
        cat "$usage"
    } >>"$log"
    rm -f "$usage"
    mv "$log" "$out/time.txt"
}

case ${1:-both} in
full | both) timed "$HERE" --adversarial "$SEED/adversarial-deepfool-inception_v3" ;;&
quick | both) timed "$HERE/quick" --quick ;;
n40)
    timed "$HERE/n40" --data foolbox-samples --adversarial "$SEED/adversarial-deepfool-inception_v3" \
        --attacks fgsm --defenses none,webp+flip --epsilon 4/255 --threads 1
    ;;
full) ;;
*) echo "usage: $0 [full|quick|both|n40]" >&2 && exit 2 ;;
esac
