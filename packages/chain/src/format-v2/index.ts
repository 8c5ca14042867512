export {
  assertCoverable,
  columnValueSql,
  encodingOf,
  quoteIdent,
  selectListV2,
  TABLE_COLUMNS_SQL,
  typeWithoutModifiers,
  UnsupportedColumnTypeError,
  valueSql,
  valuesFromResult,
  type ColumnEncoding,
  type CoveredColumn,
  type TableColumn,
} from './column-encoding.ts';
export { FORMAT_V2, FormatV2Layout, formatV2Layout, type LinkInputV2, type RowV2 } from './canonical-v2.ts';
export { checkRowV2, sealRowsV2, type LinkV2, type ProblemV2, type SealRowsV2Input, type StoredRowV2 } from './seal-v2.ts';
export { compileLayoutV2, compiledLayoutV2, sealRowsCompiledV2, type CompiledLayoutV2 } from './compiled-v2.ts';
export { timestamptzFromIsoUtc } from './timestamp-output.ts';
