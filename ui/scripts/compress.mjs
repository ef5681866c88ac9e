// Writes `.gz` and `.br` siblings of every text asset in dist/ (the service serves them to
// clients that accept them) and prints the compressed size of the JavaScript and CSS,
// failing the build when it exceeds the budget.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, extname, relative } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const DIST = new URL('../dist/', import.meta.url).pathname;
const COMPRESSIBLE = new Set(['.js', '.css', '.html', '.svg']);
const BUDGET_BYTES = 300 * 1024;

async function filesUnder(directory) {
  const entries = await readdir(directory, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(directory, entry.name);
      return entry.isDirectory() ? filesUnder(path) : [path];
    }),
  );
  return nested.flat();
}

const files = (await filesUnder(DIST)).filter((path) => COMPRESSIBLE.has(extname(path)));
let scriptAndStyleGzipBytes = 0;
for (const path of files.sort()) {
  const content = await readFile(path);
  const gzip = gzipSync(content, { level: 9 });
  const brotli = brotliCompressSync(content, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: content.length },
  });
  await writeFile(`${path}.gz`, gzip);
  await writeFile(`${path}.br`, brotli);
  const kind = extname(path);
  if (kind === '.js' || kind === '.css') scriptAndStyleGzipBytes += gzip.length;
  console.log(
    `${relative(DIST, path).padEnd(40)} ${kb(content.length).padStart(10)} ` +
      `gzip ${kb(gzip.length).padStart(9)}  br ${kb(brotli.length).padStart(9)}`,
  );
}

console.log(`JS + CSS gzip total: ${kb(scriptAndStyleGzipBytes)} (budget ${kb(BUDGET_BYTES)})`);
if (scriptAndStyleGzipBytes > BUDGET_BYTES) {
  console.error('the console is over its size budget');
  process.exit(1);
}

function kb(bytes) {
  return `${(bytes / 1024).toFixed(1)} KB`;
}
