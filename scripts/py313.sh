#!/usr/bin/env bash
# The full host suite under Python 3.13 (tox -e py313): an amd64 Debian trixie rootfs (its
# python3.13), TensorFlow's and LiteRT's cp313 wheels installed host-side into it with pip's
# --target, and pytest run inside with chroot. Needs root (chroot, mounts) and mmdebstrap.
#
#   scripts/py313.sh [PYTEST ARGS...]      default: the README's test command (the plugin's own tests)
#
# The rootfs and its site-packages are cached under $XDG_CACHE_HOME/pytest-litert/py313
# (rebuilt when pyproject.toml changes); the checkout is bind-mounted at /src.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pytest-litert/py313
rootfs=$cache/rootfs
stamp=$cache/site.sha256
want=$(sha256sum "$repo/pyproject.toml" | cut -d' ' -f1)

if [ ! -x "$rootfs/usr/bin/python3.13" ] || [ ! -x "$rootfs/usr/bin/env" ]; then
  mirror=$(PYTHONPATH="$repo" "$python" -c "from pytest_litert.run.qemu.debian import debian_mirror; print(debian_mirror())")
  rm -rf "$rootfs" "$stamp" && mkdir -p "$cache"
  echo "py313: mmdebstrap trixie amd64 (python3.13) from $mirror"
  mmdebstrap --quiet --variant=extract --arch=amd64 --include=python3.13,python3.13-venv,libstdc++6,ca-certificates,coreutils,bash,dash \
    trixie "$rootfs" "$mirror"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "py313: installing the test extra's cp313 wheels into $rootfs/opt/site"
  wheel_dir=$(mktemp -d)
  mkdir "$wheel_dir/src"  # a copy: building in the checkout would leave build/ behind
  cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/pytest_litert" "$wheel_dir/src/"
  "$python" -m pip wheel --quiet --no-deps "$wheel_dir/src" -w "$wheel_dir"
  rm -rf "$rootfs/opt/site"
  "$python" -m pip install --quiet --target "$rootfs/opt/site" --python-version 3.13 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_28_x86_64 --only-binary=:all: pip "$(ls "$wheel_dir"/*.whl)[test]"
  rm -rf "$rootfs/opt/site/pytest_litert" "$wheel_dir"  # the checkout's own package is used, from /src
  echo "$want" > "$stamp"
fi
# As an installed package: the checkout and the site on python3.13's own path (a .pth file, no
# PYTHONPATH, so child processes with a clean environment see them too), the console script
# where a venv would put it (pip's --target scripts point at the host's interpreter).
mkdir -p "$rootfs/usr/lib/python3/dist-packages"
printf '/src\n/opt/site\n' > "$rootfs/usr/lib/python3/dist-packages/pytest-litert-py313.pth"
printf '#!/usr/bin/python3.13\nimport sys\nfrom pytest_litert.cli import main\nsys.exit(main())\n' \
  > "$rootfs/usr/bin/pytest-litert"
chmod +x "$rootfs/usr/bin/pytest-litert"

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-p no:cacheprovider -n auto)  # the README's test command
mkdir -p "$rootfs/src" "$rootfs/proc" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc/ssl/certs" "$rootfs/root"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$rootfs/etc/pip.conf"
# One private mount namespace: nothing stays mounted on the host after the run.
exec unshare --mount --fork bash -c '
  set -e
  root=$1; repo=$2; shift 2
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/tmp"
  mount --bind /etc/ssl/certs "$root/etc/ssl/certs"
  mount --bind "$repo" "$root/src"
  cd "$root/src"
  exec chroot "$root" /usr/bin/env -i PATH=/opt/site/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    TF_CPP_MIN_LOG_LEVEL=3 XDG_CACHE_HOME=/tmp/cache \
    sh -c "cd /src && exec python3.13 -m pytest \"\$@\"" pytest "$@"
' bash "$rootfs" "$repo" "${args[@]}"
