/**
 * Just enough Swagger 2.0 to check request bodies against Firecracker's API description: path
 * templates, body parameters, and the JSON-schema subset the file uses (type, required,
 * properties, enum, items, minimum/maximum, $ref). Unknown properties are errors too: Firecracker
 * rejects them (serde deny_unknown_fields).
 */
import { parse } from "yaml";

type Schema = {
  $ref?: string;
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  enum?: unknown[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
};
type Param = { in: string; name: string; required?: boolean; schema?: Schema };
type Operation = { parameters?: Param[] };
export type SwaggerSpec = { paths: Record<string, Record<string, Operation>>; definitions: Record<string, Schema> };

export async function loadSwagger(path = new URL("./firecracker-swagger-v1.16.1.yaml", import.meta.url).pathname): Promise<SwaggerSpec> {
  return parse(await Bun.file(path).text()) as SwaggerSpec;
}

function matchPath(spec: SwaggerSpec, path: string): string | undefined {
  return Object.keys(spec.paths).find((tpl) => new RegExp(`^${tpl.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path));
}

/** Errors for this request (empty when valid). */
export function validateRequest(spec: SwaggerSpec, method: string, path: string, body: unknown): string[] {
  const tpl = matchPath(spec, path);
  if (!tpl) return [`no path ${path} in the API`];
  const op = spec.paths[tpl]![method.toLowerCase()];
  if (!op) return [`${method} not allowed on ${tpl}`];
  const bodyParam = op.parameters?.find((p) => p.in === "body");
  if (!bodyParam) return body === undefined ? [] : [`${method} ${tpl} takes no body`];
  if (body === undefined) return bodyParam.required ? [`${method} ${tpl} needs a body`] : [];
  return validate(spec, bodyParam.schema ?? {}, body, "body");
}

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case "object": return typeof v === "object" && v !== null && !Array.isArray(v);
    case "array": return Array.isArray(v);
    case "string": return typeof v === "string";
    case "boolean": return typeof v === "boolean";
    case "integer": return Number.isInteger(v);
    case "number": return typeof v === "number";
    default: return true;
  }
}

export function validate(spec: SwaggerSpec, schema: Schema, v: unknown, at: string): string[] {
  if (schema.$ref) return validate(spec, spec.definitions[schema.$ref.replace("#/definitions/", "")]!, v, at);
  const type = schema.type ?? (schema.properties ? "object" : undefined);
  if (type && !typeOk(type, v)) return [`${at}: expected ${type}, got ${JSON.stringify(v)}`];
  const errs: string[] = [];
  if (schema.enum && !schema.enum.includes(v)) errs.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof v === "number" && schema.minimum !== undefined && v < schema.minimum) errs.push(`${at}: below ${schema.minimum}`);
  if (typeof v === "number" && schema.maximum !== undefined && v > schema.maximum) errs.push(`${at}: above ${schema.maximum}`);
  if (Array.isArray(v) && schema.items) v.forEach((x, i) => errs.push(...validate(spec, schema.items!, x, `${at}[${i}]`)));
  if (type === "object" && typeof v === "object" && v) errs.push(...validateObject(spec, schema, v as Record<string, unknown>, at));
  return errs;
}

function validateObject(spec: SwaggerSpec, schema: Schema, v: Record<string, unknown>, at: string): string[] {
  const errs: string[] = [];
  for (const r of schema.required ?? []) if (!(r in v)) errs.push(`${at}.${r}: required`);
  for (const [k, x] of Object.entries(v)) {
    const p = schema.properties?.[k];
    if (p) errs.push(...validate(spec, p, x, `${at}.${k}`));
    else if (typeof schema.additionalProperties === "object") errs.push(...validate(spec, schema.additionalProperties, x, `${at}.${k}`));
    else if (schema.properties && schema.additionalProperties !== true) errs.push(`${at}.${k}: not in the schema`);
  }
  return errs;
}
