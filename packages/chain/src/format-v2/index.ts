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
