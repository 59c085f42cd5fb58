// The pages' TypeScript types for each wire contract, generated from the JSON Schema that
// its pydantic models publish: the control API (`python -m stresslab.control`) and the
// dashboard message (`python -m stresslab.measurement.live_schema`), in src/generated/.
// `--check` fails, without writing, when a committed file is not what its schema gives.
import { access, readFile, writeFile } from "node:fs/promises";
import { compile } from "json-schema-to-typescript";

const CONTRACTS = [
  { name: "control", root: "ControlApi", source: "stresslab/control.py" },
  { name: "live", root: "LiveProtocol", source: "stresslab/measurement/live.py" },
];

// `--dir DIR` reads and writes there instead, and only the contracts whose schema it holds
// (the staleness test checks a changed copy).
const dirArg = process.argv.indexOf("--dir");
const here = dirArg > 0
  ? new URL(`file://${process.argv[dirArg + 1].replace(/\/?$/, "/")}`)
  : new URL("../src/generated/", import.meta.url);
const check = process.argv.includes("--check");

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

async function exists(url) {
  return access(url).then(() => true, () => false);
}

let stale = false;
for (const { name, root, source } of CONTRACTS) {
  const schemaFile = new URL(`${name}.schema.json`, here);
  const typesFile = new URL(`${name}.ts`, here);
  if (dirArg > 0 && !(await exists(schemaFile))) continue;
  const schema = untitled(JSON.parse(await readFile(schemaFile, "utf8")), true);
  const types = await compile(schema, root, {
    bannerComment: `/* Generated from ${name}.schema.json (${source}) by ` +
      "scripts/generate-types.mjs: do not edit. */",
    additionalProperties: false,
    unreachableDefinitions: true,
    format: true,
    style: { printWidth: 100, singleQuote: false },
  });
  if (check) {
    const committed = await readFile(typesFile, "utf8").catch(() => "");
    if (committed !== types) {
      console.error(`src/generated/${name}.ts is stale: run \`npm run types\` in dashboard_site`);
      stale = true;
    }
  } else {
    await writeFile(typesFile, types);
    console.log(`wrote src/generated/${name}.ts`);
  }
}
if (stale) process.exit(1);
