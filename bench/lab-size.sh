# Sourced by the lab benches (ipvs-apply.sh, kube-churn.sh): reads `--services 1000|10000`
# from the arguments and sets vips and ports (the generated table: vips x ports services),
# timeout (seconds for the scenario) and mem (MiB for the VM). `-h` prints the calling
# script's header.
services=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --services) services=${2:-}; shift 2 || true ;;
        --services=*) services=${1#*=}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "$(basename "$0"): unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
case "$services" in
    1000) vips=16 ports=63 timeout=900 mem=1024 ;;
    10000) vips=40 ports=250 timeout=3600 mem=2048 ;;
    *) echo "$(basename "$0"): --services takes 1000 or 10000, not '$services'" >&2; exit 2 ;;
esac
