//! Demo data: ~50 products in six categories with stock, loaded by the catalog's last migration
//! when the `seed_demo_data` variable is "true" (or not set).
//!
//! The table below is the single source: the macro turns it into typed constants (checked by the
//! unit tests against the domain's rules) and into the migration's SQL, built at compile time.
//! Inserts are `OR IGNORE` and look categories up by name, so seeding never fails on data an
//! admin entered first. Texts hold no `'` or `;` (they are SQL literals; migrations split on
//! `;` at line ends), which a test checks.

/// The typed view of the table, for the checks below (the runtime needs only [`SQL`]).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedCategory {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedProduct {
    pub id: &'static str,
    pub sku: &'static str,
    pub category: &'static str,
    /// Euro cents.
    pub price: i64,
    pub on_hand: u32,
    pub name: &'static str,
    pub description: &'static str,
}

#[cfg(test)]
pub const CURRENCY: &str = "EUR";

macro_rules! seed_data {
    (
        categories { $( $cid:literal, $cname:literal, $cdesc:literal; )* }
        products { $( $pid:literal, $sku:literal, $cat:literal, $price:literal, $on_hand:literal,
            $name:literal, $desc:literal; )* }
    ) => {
        #[cfg(test)]
        pub const CATEGORIES: &[SeedCategory] = &[$(SeedCategory {
            id: $cid,
            name: $cname,
            description: $cdesc,
        }),*];

        #[cfg(test)]
        pub const PRODUCTS: &[SeedProduct] = &[$(SeedProduct {
            id: $pid,
            sku: $sku,
            category: $cat,
            price: $price,
            on_hand: $on_hand,
            name: $name,
            description: $desc,
        }),*];

        /// The seed migration: categories, then each product and its stock row.
        pub const SQL: &str = concat!(
            $(
                "INSERT OR IGNORE INTO categories (id, name, name_key, description, created_at) VALUES ('",
                $cid, "', '", $cname, "', lower('", $cname, "'), '", $cdesc,
                "', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n",
            )*
            $(
                "INSERT OR IGNORE INTO products (id, sku, name, description, search_text, price_amount, currency, category_id, active, created_at, updated_at) VALUES ('",
                $pid, "', '", $sku, "', '", $name, "', '", $desc, "', lower('",
                $name, "' || char(10) || '", $desc, "' || char(10) || '", $sku, "'), ",
                $price, ", 'EUR', (SELECT id FROM categories WHERE name_key = lower('", $cat,
                "')), 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\n",
                "INSERT OR IGNORE INTO stock (product_id, on_hand, reserved, low_stock_threshold) SELECT id, ",
                $on_hand, ", 0, 5 FROM products WHERE sku = '", $sku, "';\n",
            )*
        );
    };
}

seed_data! {
    categories {
        "01a20f32-c337-7302-99fe-e77840444e24", "Electronics", "Headphones, speakers, computer accessories and gadgets";
        "01a20f32-c338-77b0-a195-88c1bc267457", "Books", "Programming, science, cooking and fiction";
        "01a20f32-c339-734a-87ff-4eb05af17b47", "Home & Kitchen", "Cookware, small appliances and home essentials";
        "01a20f32-c33a-77d0-bbe8-bd19a42bd5ac", "Sports & Outdoors", "Fitness gear, hiking and outdoor equipment";
        "01a20f32-c33b-71e2-b5ff-ed209c1424b7", "Clothing", "Everyday wear, outerwear and accessories";
        "01a20f32-c33c-7c22-bb12-c44de7f0e665", "Toys & Games", "Building sets, puzzles and games for all ages";
    }
    products {
        "01a20f32-c33d-7008-946d-1d48dfc3c251", "ELEC-HDP-001", "Electronics", 17999, 40, "Wireless Noise-Cancelling Headphones",
            "Over-ear headphones with active noise cancelling and 30 hours of battery life.";
        "01a20f32-c33e-76aa-89de-060a7d680969", "ELEC-SPK-002", "Electronics", 5999, 75, "Portable Bluetooth Speaker",
            "Waterproof speaker with rich bass and 12 hours of playtime.";
        "01a20f32-c33f-76bf-aa8a-e89c496ca2a5", "ELEC-KBD-003", "Electronics", 8999, 60, "Mechanical Keyboard TKL",
            "Tenkeyless keyboard with hot-swappable tactile switches and white backlight.";
        "01a20f32-c340-75e3-a39a-a44ad1826f9a", "ELEC-MSE-004", "Electronics", 3499, 90, "Ergonomic Wireless Mouse",
            "Vertical mouse that keeps the wrist in a natural position, with silent clicks.";
        "01a20f32-c341-7b46-a4ca-4702770faa25", "ELEC-MON-005", "Electronics", 32900, 20, "27-inch 4K Monitor",
            "IPS panel with 99 percent sRGB coverage and USB-C power delivery.";
        "01a20f32-c342-757e-bbd4-6c77e51cdcc8", "ELEC-CHG-006", "Electronics", 3999, 100, "65W USB-C GaN Charger",
            "Compact charger with two USB-C ports and one USB-A port.";
        "01a20f32-c343-763a-a104-c65265c90c97", "ELEC-SSD-007", "Electronics", 10999, 35, "Portable SSD 1TB",
            "Pocket-sized solid state drive with transfer speeds up to 1050 MB/s.";
        "01a20f32-c344-721b-93a2-95690cd51c0e", "ELEC-CAM-008", "Electronics", 4999, 45, "Full HD Webcam",
            "1080p webcam with dual microphones and a privacy shutter.";
        "01a20f32-c345-7a85-b47d-64136bac13f0", "ELEC-EBR-009", "Electronics", 12999, 25, "E-Reader with Front Light",
            "Glare-free 6-inch display, adjustable warm light and weeks of battery.";
        "01a20f32-c346-7234-8a00-82b61aed589e", "BOOK-RST-101", "Books", 3995, 50, "The Rust Programming Language",
            "The official guide to Rust, from ownership to fearless concurrency.";
        "01a20f32-c347-735b-bf78-07ed6837d96a", "BOOK-WAS-102", "Books", 4250, 30, "WebAssembly in Practice",
            "Building portable, sandboxed software with WebAssembly and WASI.";
        "01a20f32-c348-7b32-b8be-45fea9a1c855", "BOOK-DDD-103", "Books", 2999, 40, "Domain-Driven Design Distilled",
            "A concise introduction to bounded contexts, aggregates and events.";
        "01a20f32-c349-707a-82e0-897c2e34e93e", "BOOK-DIA-104", "Books", 4490, 55, "Designing Data-Intensive Applications",
            "The big ideas behind reliable, scalable and maintainable systems.";
        "01a20f32-c34a-791c-8be6-2d7b5fa0d792", "BOOK-SCI-105", "Books", 1499, 80, "A Short History of Nearly Everything",
            "A witty tour of science from the Big Bang to the rise of civilisation.";
        "01a20f32-c34b-7255-8675-b62a392a5302", "BOOK-COK-106", "Books", 2899, 35, "Salt Fat Acid Heat",
            "Mastering the four elements of good cooking.";
        "01a20f32-c34c-7591-a936-b159aecd36a3", "BOOK-NOV-107", "Books", 1199, 60, "The Left Hand of Darkness",
            "A classic science fiction novel about an envoy on a frozen world.";
        "01a20f32-c34d-77ca-8eea-8467776f268d", "BOOK-KID-108", "Books", 899, 100, "The Very Hungry Caterpillar",
            "A picture book favourite for the very young.";
        "01a20f32-c34e-7def-ae04-3a9bfb9eded9", "HOME-KNF-201", "Home & Kitchen", 7900, 30, "Chef Knife 20 cm",
            "Forged stainless steel chef knife with a full tang and riveted handle.";
        "01a20f32-c34f-74fb-b424-c8abca07a47a", "HOME-PAN-202", "Home & Kitchen", 4495, 45, "Cast Iron Skillet 26 cm",
            "Pre-seasoned skillet for searing, baking and open fire cooking.";
        "01a20f32-c350-702f-93c1-c73597eff029", "HOME-KET-203", "Home & Kitchen", 3999, 50, "Electric Kettle 1.7 L",
            "Stainless steel kettle with temperature presets and keep-warm.";
        "01a20f32-c351-750b-ad2a-8fb203e52e03", "HOME-FPR-204", "Home & Kitchen", 2799, 65, "French Press 1 L",
            "Double-walled coffee press that keeps coffee hot for longer.";
        "01a20f32-c352-7576-88ec-508b853b50de", "HOME-BRD-205", "Home & Kitchen", 1999, 85, "Bamboo Cutting Board",
            "Large reversible board with a juice groove.";
        "01a20f32-c353-7fd4-97dd-9d4ccf7d2dde", "HOME-TWL-206", "Home & Kitchen", 3499, 70, "Cotton Bath Towel Set",
            "Set of four soft and absorbent bath towels in organic cotton.";
        "01a20f32-c354-7f9e-85c9-d288f77b0006", "HOME-LMP-207", "Home & Kitchen", 2999, 55, "LED Desk Lamp",
            "Dimmable desk lamp with five colour temperatures and a USB port.";
        "01a20f32-c355-7388-8c8a-85432fcbfa5b", "HOME-MUG-208", "Home & Kitchen", 2499, 90, "Stoneware Mug Set of 4",
            "Hand-glazed 350 ml mugs, dishwasher and microwave safe.";
        "01a20f32-c356-7365-9be9-afe0b5e3d7f9", "HOME-VAC-209", "Home & Kitchen", 19900, 15, "Cordless Stick Vacuum",
            "Lightweight vacuum with 45 minutes of runtime and a wall dock.";
        "01a20f32-c357-705a-978f-01349ced07dc", "SPRT-YOG-301", "Sports & Outdoors", 2999, 80, "Yoga Mat 6 mm",
            "Non-slip mat with alignment lines and a carry strap.";
        "01a20f32-c358-7d81-a217-bf244ee6aa97", "SPRT-DMB-302", "Sports & Outdoors", 14900, 20, "Adjustable Dumbbell 20 kg",
            "Quick-change dumbbell that replaces ten pairs of weights.";
        "01a20f32-c359-70fe-b5d4-c93d3eceffc1", "SPRT-BTL-303", "Sports & Outdoors", 2499, 100, "Insulated Water Bottle 750 ml",
            "Keeps drinks cold for 24 hours or hot for 12.";
        "01a20f32-c35a-7b48-ae03-ca5ffd6dc8cd", "SPRT-TNT-304", "Sports & Outdoors", 18900, 12, "Two-Person Hiking Tent",
            "Freestanding three-season tent weighing under 2 kg.";
        "01a20f32-c35b-77c1-a7f9-1f9bcca59433", "SPRT-BAG-305", "Sports & Outdoors", 8999, 35, "Trail Backpack 30 L",
            "Ventilated back panel, rain cover and hydration sleeve.";
        "01a20f32-c35c-7ceb-a711-dfae26e0ad89", "SPRT-RUN-306", "Sports & Outdoors", 1999, 60, "Running Belt",
            "Bounce-free belt for phone, keys and gels.";
        "01a20f32-c35d-7a66-81d4-925d21a68e44", "SPRT-BAL-307", "Sports & Outdoors", 2499, 50, "Football Size 5",
            "Match ball with a durable stitched cover.";
        "01a20f32-c35e-7ee3-9f9c-e88d9a238ad8", "SPRT-ROP-308", "Sports & Outdoors", 1299, 95, "Speed Jump Rope",
            "Adjustable steel cable rope with ball-bearing handles.";
        "01a20f32-c35f-7c91-9cb6-abf7cd8f5d9c", "CLTH-TSH-401", "Clothing", 1999, 100, "Organic Cotton T-Shirt",
            "Classic crew neck tee in soft organic cotton.";
        "01a20f32-c360-7d6c-be88-8f09f76e251a", "CLTH-HOD-402", "Clothing", 8900, 30, "Merino Wool Hoodie",
            "Warm, breathable and odour-resistant hoodie for every season.";
        "01a20f32-c361-770a-bcd4-87aecbc129bf", "CLTH-JNS-403", "Clothing", 5999, 45, "Slim Fit Jeans",
            "Stretch denim jeans with a modern slim fit.";
        "01a20f32-c362-7a4c-8006-4e02e81685f5", "CLTH-JKT-404", "Clothing", 12900, 25, "Waterproof Rain Jacket",
            "Packable jacket with taped seams and an adjustable hood.";
        "01a20f32-c363-74d8-a1f3-be484197fce8", "CLTH-SCK-405", "Clothing", 1799, 90, "Hiking Socks 3-Pack",
            "Cushioned merino blend socks for long days on the trail.";
        "01a20f32-c364-73e0-9848-74bb96f2a917", "CLTH-CAP-406", "Clothing", 1499, 70, "Baseball Cap",
            "Six-panel cotton cap with an adjustable strap.";
        "01a20f32-c365-7608-8b63-8b8ca1c3e091", "CLTH-SNK-407", "Clothing", 6499, 40, "Canvas Sneakers",
            "Low-top sneakers with a vulcanised rubber sole.";
        "01a20f32-c366-7929-b915-3325d7422c0d", "CLTH-SCF-408", "Clothing", 2999, 35, "Wool Scarf",
            "Soft lambswool scarf in a timeless check pattern.";
        "01a20f32-c367-7106-8350-63aabaad15ff", "TOYS-BLK-501", "Toys & Games", 3499, 40, "Wooden Building Blocks 100 pcs",
            "Colourful beech wood blocks in a storage tub.";
        "01a20f32-c368-7834-9de0-74922d70dbd0", "TOYS-PZL-502", "Toys & Games", 1999, 60, "1000-Piece Jigsaw Puzzle",
            "A panoramic mountain landscape puzzle for the whole family.";
        "01a20f32-c369-71a0-88d6-31da2765210c", "TOYS-BRD-503", "Toys & Games", 4499, 30, "Strategy Board Game",
            "Trade, build and settle in this award-winning game for 3 to 4 players.";
        "01a20f32-c36a-7199-971a-6dfdfe25cb6c", "TOYS-CRD-504", "Toys & Games", 1299, 80, "Family Card Game",
            "Fast and funny card game for 2 to 10 players.";
        "01a20f32-c36b-7c19-b100-346b1dbc2b2b", "TOYS-RCC-505", "Toys & Games", 5499, 25, "Remote Control Car",
            "Off-road RC car with four-wheel drive and a rechargeable battery.";
        "01a20f32-c36c-7af7-8865-cf3758b0115d", "TOYS-PLS-506", "Toys & Games", 2299, 55, "Plush Teddy Bear",
            "A huggable 35 cm teddy bear made from recycled fibres.";
        "01a20f32-c36d-79c5-96b8-e803954d2893", "TOYS-KIT-507", "Toys & Games", 3299, 35, "Kids Science Kit",
            "Twenty safe experiments with crystals, slime and volcanoes.";
        "01a20f32-c36e-7dc1-9013-821cfb237407", "TOYS-KTE-508", "Toys & Games", 2799, 20, "Stunt Kite",
            "Dual-line kite with ripstop sail and fibreglass frame.";
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use wasmshop_kit::Money;
    use wasmshop_kit::ids::is_id;

    use super::*;
    use crate::bindings::wasmshop::catalog::types::{CategoryInput, ProductInput};
    use crate::domain;

    #[test]
    fn about_fifty_products_in_five_or_six_categories() {
        assert!((45..=55).contains(&PRODUCTS.len()), "{}", PRODUCTS.len());
        assert!((5..=6).contains(&CATEGORIES.len()));
        for category in CATEGORIES {
            let count = PRODUCTS
                .iter()
                .filter(|p| p.category == category.name)
                .count();
            assert!(count >= 5, "{} has {count} products", category.name);
        }
    }

    #[test]
    fn every_row_passes_the_domain_rules() {
        for category in CATEGORIES {
            assert!(is_id(category.id), "{}", category.id);
            domain::validate_category(&CategoryInput {
                name: category.name.into(),
                description: Some(category.description.into()),
            })
            .expect(category.name);
        }
        let category_names: BTreeSet<&str> = CATEGORIES.iter().map(|c| c.name).collect();
        for product in PRODUCTS {
            assert!(is_id(product.id), "{}", product.id);
            assert!(category_names.contains(product.category), "{}", product.sku);
            assert!((10..=100).contains(&product.on_hand), "{}", product.sku);
            assert!(product.price > 0, "{}", product.sku);
            let draft = domain::validate_product(&ProductInput {
                sku: product.sku.into(),
                name: product.name.into(),
                description: product.description.into(),
                price: Money {
                    amount: product.price,
                    currency: CURRENCY.into(),
                },
                category_id: CATEGORIES
                    .iter()
                    .find(|c| c.name == product.category)
                    .map(|c| c.id.to_owned()),
                active: None,
            })
            .expect(product.sku);
            assert_eq!(
                draft.sku, product.sku,
                "stored as given: already normalised"
            );
            assert_eq!(draft.name, product.name);
        }
    }

    #[test]
    fn ids_and_skus_are_unique() {
        let ids: BTreeSet<&str> = CATEGORIES
            .iter()
            .map(|c| c.id)
            .chain(PRODUCTS.iter().map(|p| p.id))
            .collect();
        assert_eq!(ids.len(), CATEGORIES.len() + PRODUCTS.len());
        let skus: BTreeSet<&str> = PRODUCTS.iter().map(|p| p.sku).collect();
        assert_eq!(skus.len(), PRODUCTS.len());
        let names: BTreeSet<String> = CATEGORIES
            .iter()
            .map(|c| domain::category_key(c.name))
            .collect();
        assert_eq!(names.len(), CATEGORIES.len());
    }

    #[test]
    fn texts_are_safe_sql_literals_and_ascii() {
        let texts = CATEGORIES
            .iter()
            .flat_map(|c| [c.name, c.description])
            .chain(
                PRODUCTS
                    .iter()
                    .flat_map(|p| [p.sku, p.name, p.description, p.category]),
            );
        for text in texts {
            assert!(!text.contains('\'') && !text.contains(';'), "{text}");
            // SQLite's lower() folds ASCII only; the search text must equal Rust's lower-casing.
            assert!(text.is_ascii(), "{text}");
        }
    }

    #[test]
    fn sql_has_one_statement_per_category_product_and_stock_row() {
        let statements = SQL.split(";\n").filter(|s| !s.trim().is_empty()).count();
        assert_eq!(statements, CATEGORIES.len() + 2 * PRODUCTS.len());
        assert!(SQL.ends_with(";\n"));
        assert!(SQL.contains(&format!(
            ", 0, {} FROM products",
            domain::DEFAULT_LOW_STOCK_THRESHOLD
        )));
        assert!(SQL.contains(&format!("'{CURRENCY}'")));
    }
}
