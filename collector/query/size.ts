// How big a compiled funnel or segment query may be. ClickHouse refuses, with an error the API could only answer
// with a 500, a query longer than max_query_size (256 KiB by default, on 18.16 and modern) or with more than
// max_ast_elements syntax elements (50,000). Funnels and segments are sent with a larger max_query_size
// (querySizeSettings), enough for the biggest funnel the documented limits allow; a rule or funnel whose SQL
// would still be too big, in bytes or in elements, is refused when it is parsed, with a 400 naming it.

/**
 * Bytes ClickHouse may parse of a funnel or segment query. The documented limits allow a funnel of 20 steps of 20
 * filters whose values are 500 lone surrogates (7 bytes each once JSON- and SQL-escaped; each filter appears in
 * both parts of person_events): about 3.0 MB.
 */
export const maxQueryBytes = 4 * 1024 * 1024;

/** The settings each funnel and segment query is sent with (a setting both 18.16 and modern ClickHouse know). */
export const querySizeSettings = { max_query_size: String(maxQueryBytes) };

/** ClickHouse's max_ast_elements, left at its default on both versions. */
const maxSyntaxElements = 50_000;

/** Room for the statement around a compiled query (INSERT INTO segment_members (…) SELECT … FROM (…)). */
const wrapperBytes = 4096;
const wrapperElements = 500;

/**
 * Tokens that become syntax elements: literals, names and keywords, numbers, operators, and opening brackets
 * (a call or a subquery). ClickHouse's element count of the compiled funnels and rules is 1.16 to 1.31 times this
 * count (measured on 18.16 for every kind of rule, filter and metric), so 1.5 times it is a safe bound.
 */
const token = /'(?:[^'\\]|\\.)*'|[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9.]*(?:e[+-]?[0-9]+)?|->|!=|>=|<=|[=<>+*/%-]|\(/g;
const elementsPerToken = 1.5;

/** An upper bound of the syntax elements ClickHouse parses `sql` into. */
export function syntaxElements(sql: string): number {
  return Math.ceil((sql.match(token)?.length ?? 0) * elementsPerToken);
}

/** Why ClickHouse would refuse `sql` as too big, or undefined when it takes it (sent with querySizeSettings). */
export function querySizeProblem(sql: string): string | undefined {
  const bytes = Buffer.byteLength(sql, 'utf8');
  if (bytes > maxQueryBytes - wrapperBytes) {
    return `its SQL would be ${bytes.toLocaleString('en')} bytes long, more than the ${(maxQueryBytes - wrapperBytes).toLocaleString('en')} a query may have: use fewer or shorter values`;
  }
  const elements = syntaxElements(sql);
  if (elements > maxSyntaxElements - wrapperElements) {
    return `its SQL would have up to ${elements.toLocaleString('en')} syntax elements, more than the ${(maxSyntaxElements - wrapperElements).toLocaleString('en')} a query may have: use fewer rules and filters`;
  }
  return undefined;
}
