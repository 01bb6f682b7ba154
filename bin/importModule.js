// A real dynamic import() for the CLI: TypeScript (module commonjs) and the swc loader both turn import() into
// require(), which cannot load every ESM module; a function made at run time is left alone by both.
const dynamicImport = new Function('url', 'return import(url)');
module.exports = (url) => dynamicImport(url);
