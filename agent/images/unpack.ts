/**
 * Applies OCI image layers, in order, to a root directory. Each layer is handled by busybox
 * chrooted into the root being built, so a hostile layer cannot write outside it: busybox tar
 * strips a leading `/` and everything up to a `..` from member names, and a symlink planted by a
 * lower layer resolves inside the root (a write through a link whose target does not exist there
 * fails the layer). Whiteouts (OCI image spec, layer.md): `d/.wh.x` deletes `d/x` from the lower
 * layers, `d/.wh..wh..opq` empties `d`; both are applied before the layer's own files are
 * extracted, and the markers are removed after. Compression: gzip or none
 * (by media type, else by magic bytes); zstd through the host's `zstd` when it is installed.
 */
import { closeSync, copyFileSync, linkSync, mkdirSync, openSync, readSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";
import { sh } from "./build.ts";


/**
 * Runs inside the chroot: $1 = tools dir (random name: no layer can aim at it), $2 = tar flags
 * (-z or empty). Whiteouts of this layer are applied to what the lower layers left, then the
 * layer is extracted and its markers removed.
 */
const APPLY_LAYER = `
T=$1; B=$T/busybox
$B tar -t $2 -f $T/layer > $T/list || exit 1
while IFS= read -r p; do
  p=\${p#./}; p=\${p#/}
  name=\${p##*/}; dir=\${p%"$name"}
  case "$name" in
    .wh..wh..opq) [ -n "$dir" ] && [ -d "/$dir" ] && $B find "/$dir" -mindepth 1 -maxdepth 1 -exec $B rm -rf {} + ;;
    .wh.*) $B rm -rf "/$dir\${name#.wh.}" ;;
  esac
done < $T/list
$B tar -x $2 -f $T/layer -C / || exit 1
while IFS= read -r p; do
  p=\${p#./}; p=\${p#/}
  case "\${p##*/}" in .wh.*) $B rm -f "/$p" ;; esac
done < $T/list
`;

function compression(file: string, mediaType: string): "gzip" | "zstd" | "none" {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".gzip")) return "gzip";
  if (mediaType.endsWith("+zstd")) return "zstd";
  const fd = openSync(file, "r");
  const head = new Uint8Array(4);
  readSync(fd, head, 0, 4, 0);
  closeSync(fd);
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

export interface LayerFile {
  path: string;
  mediaType: string;
}

export async function applyLayers(root: string, layers: LayerFile[]): Promise<void> {
  for (const layer of layers) {
    // A fresh tools dir per layer, under a name no layer can know (mkdir fails if it exists).
    const name = `.nimbus-unpack-${randomBytes(8).toString("hex")}`;
    const tools = join(root, name);
    mkdirSync(tools);
    try {
      copyFileSync("/bin/busybox", join(tools, "busybox"));
      const inside = join(tools, "layer");
      const kind = compression(layer.path, layer.mediaType);
      if (kind === "zstd") {
        if (!Bun.which("zstd")) throw new AppError("unavailable", "a zstd-compressed layer needs zstd on the host (apt-get install zstd)");
        await sh('zstd -q -d -c "$1" > "$2"', [layer.path, inside]);
      } else {
        try {
          linkSync(layer.path, inside);
        } catch {
          copyFileSync(layer.path, inside);
        }
      }
      await sh(`chroot "$1" "/$2/busybox" sh -c '${APPLY_LAYER.replace(/'/g, "'\\''")}' apply "/$2" "$3"`, [root, name, kind === "gzip" ? "-z" : ""]);
    } finally {
      rmSync(tools, { recursive: true, force: true });
    }
  }
}
