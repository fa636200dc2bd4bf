// Copies the pinned htmx build into static/ (embedded by the Go binary).
// Refuses anything but htmx 2.0.x: 4.x changes attribute inheritance and error
// swapping (see shared STYLE.md, "htmx versions: a trap to know").
import { copyFileSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(root + "node_modules/htmx.org/package.json", "utf8"));
if (!pkg.version.startsWith("2.0.")) {
  console.error(`copy-htmx: expected htmx.org 2.0.x, found ${pkg.version}`);
  process.exit(1);
}
copyFileSync(root + "node_modules/htmx.org/dist/htmx.min.js", root + "static/htmx.min.js");
