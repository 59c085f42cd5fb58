// The control API's TypeScript types, generated from the JSON Schema that
// `python -m stresslab.control` publishes (src/generated/control.schema.json).
// `--check` fails, without writing, when the committed file is not what the schema gives.
import { readFile, writeFile } from "node:fs/promises";
import { compile } from "json-schema-to-typescript";

// `--dir DIR` reads and writes there instead (the staleness test checks a changed copy).
const dirArg = process.argv.indexOf("--dir");
const here = dirArg > 0
  ? new URL(`file://${process.argv[dirArg + 1].replace(/\/?$/, "/")}`)
  : new URL("../src/generated/", import.meta.url);
const schemaFile = new URL("control.schema.json", here);
const typesFile = new URL("control.ts", here);

/** Only the models keep their titles: a titled property would become a type of its own. */
function untitled(node, keep) {
  if (Array.isArray(node)) return node.map((item) => untitled(item, false));
  if (!node || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "title" && !keep) continue;
    if (key === "$defs" || key === "properties") {
      // maps of name -> schema: every name stays, models keep their titles
      out[key] = Object.fromEntries(Object.entries(value).map(([name, def]) =>
        [name, untitled(def, key === "$defs")]));
    } else {
      out[key] = untitled(value, false);
    }
  }
  return out;
}

const schema = untitled(JSON.parse(await readFile(schemaFile, "utf8")), true);
const types = await compile(schema, "ControlApi", {
  bannerComment: "/* Generated from control.schema.json (stresslab/control.py) by " +
    "scripts/generate-types.mjs: do not edit. */",
  additionalProperties: false,
  unreachableDefinitions: true,
  format: true,
  style: { printWidth: 100, singleQuote: false },
});
if (process.argv.includes("--check")) {
  const committed = await readFile(typesFile, "utf8").catch(() => "");
  if (committed !== types) {
    console.error("src/generated/control.ts is stale: run `npm run types` in dashboard_site");
    process.exit(1);
  }
} else {
  await writeFile(typesFile, types);
  console.log("wrote src/generated/control.ts");
}
