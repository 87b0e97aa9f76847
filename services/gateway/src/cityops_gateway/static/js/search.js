// Diacritic-insensitive matching for the search boxes: "cay xanh" finds "Cây xanh", "dong" finds
// "đồng". Only the search folds; everything shown keeps its diacritics.
export function fold(text) {
  return String(text ?? "").normalize("NFD").replace(/[\u0300-\u036f]/g, "")
    .replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase();
}
