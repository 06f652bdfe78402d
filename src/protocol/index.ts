export * from './config';
export * from './messages';
export * from './records';
export * from './runFiles';
export * from './runState';
export * from './schema';
export * from './tokenQuantities';
export * from './webview';
