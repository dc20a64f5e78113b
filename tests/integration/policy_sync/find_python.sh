# Sets $py to a python3 that has the websockets module, or to "" when none
# does. Debian's python3-websockets belongs to Debian's python3, which may not
# be the first python3 on PATH (pyenv and the like).
py=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import websockets' 2>/dev/null; then
    py=$(command -v "$candidate")
    break
  fi
done
