// vega-lite declares its types only in package.json "exports", which this project's
// moduleResolution ("node") does not read; point the bare name at the same declarations.
declare module "vega-lite" {
  export * from "vega-lite/build/index";
}
