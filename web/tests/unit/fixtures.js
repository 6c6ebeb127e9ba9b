// A small TripDetail as GET /api/trains/trips/{id} answers it: coach KA (AC seats, 1..6) and
// coach KHA (Shovan chairs, 7..8).
export function tripDetail() {
  const seat = (id, coach, n, fare) => ({ seat_id: id, label: `${coach}-${n}`, fare });
  return {
    trip_id: 42,
    coaches: [
      { code: 'KA', class: 'AC_S', seats: [1, 2, 3, 4, 5, 6].map((id) => seat(id, 'KA', id, 139800)) },
      { code: 'KHA', class: 'S_CHAIR', seats: [7, 8].map((id) => seat(id, 'KHA', id - 6, 50000)) },
    ],
  };
}

export const hold = (seatIds, expiresAt = '2030-01-01T10:05:00Z') => ({
  hold_id: '6f1c3a52-0d8e-4b7e-9a51-2a7f1c9e4b10',
  trip_id: 42,
  seat_ids: seatIds,
  expires_at: expiresAt,
});
