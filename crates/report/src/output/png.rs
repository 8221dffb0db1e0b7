//! `--format png`: the SVG pictures rasterised (vnstati's use: status pages, chat), with
//! resvg — pure Rust, deterministic. The text is set in DejaVu Sans, which the Debian package
//! depends on (fonts-dejavu-core); without it, Liberation Sans or FreeSans. A picture whose
//! text would be missing is an error, never an image without labels.

/// Where Debian's fonts-dejavu-core puts the faces the pictures name.
#[cfg(feature = "png")]
const DEJAVU: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
];

/// Other common sans faces, when DejaVu is not installed (source installs).
#[cfg(feature = "png")]
const FALLBACK: [&str; 2] = [
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// The PNG of `svg` at its own size (one SVG pixel, one image pixel).
#[cfg(feature = "png")]
pub fn render(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options::default();
    let db = opt.fontdb_mut();
    for f in DEJAVU.iter().chain(&FALLBACK) {
        if let Ok(data) = nrec_sys::read_bounded(std::path::Path::new(f), 64 << 20) {
            db.load_font_data(data);
        }
    }
    if db.is_empty() {
        return Err(
            "--format png: no font to set the picture's text in; install fonts-dejavu-core".into(),
        );
    }
    let family = if db
        .faces()
        .any(|f| f.families.iter().any(|(n, _)| n == "DejaVu Sans"))
    {
        Some("DejaVu Sans".to_string())
    } else {
        db.faces()
            .next()
            .and_then(|f| f.families.first())
            .map(|f| f.0.clone())
    };
    if let Some(f) = family {
        opt.font_family = f;
    }
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| format!("--format png: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or("--format png: the picture has no size")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| format!("--format png: {e}"))
}

#[cfg(not(feature = "png"))]
pub fn render(_svg: &str) -> Result<Vec<u8>, String> {
    Err("--format png: this nrec was built without the `png` feature".into())
}
