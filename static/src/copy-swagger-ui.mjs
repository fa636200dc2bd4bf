// Copies the pinned Swagger UI build into static/ (embedded by the Go
// binary) for the management API's reference at /api/docs. Swagger UI keeps
// its styles in a stylesheet, so it runs under the dashboard's CSP, which
// allows no inline styles. The source-map comments are dropped: the maps
// are not shipped.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dist = root + "node_modules/swagger-ui-dist/";
const pkg = JSON.parse(readFileSync(dist + "package.json", "utf8"));
if (!pkg.version.startsWith("5.")) {
  console.error(`copy-swagger-ui: expected swagger-ui-dist 5.x, found ${pkg.version}`);
  process.exit(1);
}
const strip = (s) => s.replace(/\n?\/[/*]# sourceMappingURL=\S+?(\s*\*\/)?\s*$/, "\n");
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  writeFileSync(root + "static/" + name, strip(readFileSync(dist + name, "utf8")));
}
