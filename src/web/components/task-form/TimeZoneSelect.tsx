import { useMemo } from 'react';
import { Select } from '@mantine/core';
import { browserTimeZone, listTimeZones } from '../../lib/time';

interface TimeZoneSelectProps {
  label: string;
  value: string;
  onChange: (zone: string) => void;
  error?: string;
  description?: string;
}

export function TimeZoneSelect({ label, value, onChange, error, description }: TimeZoneSelectProps) {
  const data = useMemo(() => {
    const local = browserTimeZone();
    const zones = listTimeZones();
    if (!zones.includes(value)) zones.push(value);
    return zones.map((zone) => ({ value: zone, label: zone === local ? `${zone} (your zone)` : zone.replace(/_/g, ' ') }));
  }, [value]);
  return (
    <Select
      label={label}
      description={description}
      searchable
      data={data}
      value={value}
      onChange={(zone) => zone && onChange(zone)}
      allowDeselect={false}
      limit={80}
      maxDropdownHeight={280}
      error={error}
      nothingFoundMessage="No such time zone"
    />
  );
}
