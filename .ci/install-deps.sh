#!/usr/bin/env bash
# Install what hust19 needs on Debian 12 (idempotent: installs only what is missing).
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-openmpi-dev hdf5-tools
      libdcmtk-dev dcmtk libyaml-dev libturbojpeg0-dev
      python3-numpy python3-scipy python3-sklearn python3-opencv python3-skimage
      python3-pydicom python3-h5py python3-torch python3-yaml python3-statsmodels)
if [ "${HUST19_WITH_SLURM:-1}" = 1 ]; then PKGS+=(slurm-wlm munge); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
