export {layerTable, pruningLog} from './tables';
export type {LogRow} from './tables';
export {toCsv, writeCsv} from './csv';
export {showTable, tableHtml} from './html';
