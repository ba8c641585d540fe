import type { ListMetricDescriptorsResponse } from '../../generated/cri/runtime/v1/ListMetricDescriptorsResponse';
import type { Handler } from '../handler';
import { metricDescriptors } from './stats-metrics';

export function listMetricDescriptors(): Handler<unknown, ListMetricDescriptorsResponse> {
  return async () => ({ descriptors: metricDescriptors() });
}
