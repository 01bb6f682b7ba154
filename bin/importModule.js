// A real dynamic import() for the CLI, which is compiled to CommonJS (where TypeScript turns import() into
// require()): `worksched run` loads ESM modules (and CommonJS ones) with it.
module.exports = (url) => import(url);
