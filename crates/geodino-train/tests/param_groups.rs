//! Parameter groups: a table of official key names → multipliers, worked out from the reference's
//! rules for a depth-24 backbone (ViT-L) with layer decay 0.98 and patch-embed multiplier 0.2.

use geodino_train::param_groups::{
    ParamGroupConfig, SubModule, fuse_param_groups, layer_id, param_group,
};

#[test]
fn table_of_names_to_multipliers() {
    let cfg = ParamGroupConfig::default();
    let d = 0.98f64;
    let l = 24;
    // name, layer id, lr multiplier, wd multiplier, last layer
    let table: &[(&str, Option<usize>, f64, f64, bool)] = &[
        ("patch_embed.proj.weight", Some(0), d.powi(25) * 0.2, 1.0, false),
        ("patch_embed.proj.bias", Some(0), d.powi(25) * 0.2, 0.0, false),
        ("backbone.patch_embed.proj.weight", Some(0), d.powi(25) * 0.2, 1.0, false),
        ("cls_token", Some(0), d.powi(25), 1.0, false), // tokens are decayed, as coded
        ("storage_tokens", Some(0), d.powi(25), 1.0, false),
        ("mask_token", Some(0), d.powi(25), 1.0, false),
        ("blocks.0.norm1.weight", Some(1), d.powi(24), 0.0, false),
        ("blocks.3.attn.qkv.weight", Some(4), d.powi(21), 1.0, false),
        ("blocks.3.attn.qkv.bias", Some(4), d.powi(21), 0.0, false),
        ("blocks.3.ls1.gamma", Some(4), d.powi(21), 0.0, false),
        ("backbone.blocks.23.mlp.fc2.weight", Some(24), d, 1.0, false),
        ("blocks.23.mlp.w3.bias", Some(24), d, 0.0, false),
        ("norm.weight", Some(25), 1.0, 0.0, false),
        ("norm.bias", Some(25), 1.0, 0.0, false),
        ("local_cls_norm.weight", Some(25), 1.0, 0.0, false),
        ("dino_head.mlp.0.weight", None, 1.0, 1.0, false),
        ("dino_head.mlp.0.bias", None, 1.0, 0.0, false),
        ("dino_head.mlp.4.weight", None, 1.0, 1.0, false),
        ("dino_head.last_layer.weight", None, 1.0, 1.0, true),
        ("ibot_head.last_layer.weight", None, 1.0, 1.0, true),
        ("ibot_head.mlp.2.bias", None, 1.0, 0.0, false),
    ];
    for &(name, id, lr, wd, last) in table {
        let g = param_group(name, l, &cfg);
        assert_eq!(g.layer_id, id, "{name}");
        assert!((g.lr_multiplier - lr).abs() < 1e-15, "{name}: lr × {} vs {lr}", g.lr_multiplier);
        assert_eq!(g.wd_multiplier, wd, "{name}");
        assert_eq!(g.is_last_layer, last, "{name}");
    }
    assert_eq!(param_group("dino_head.mlp.0.weight", l, &cfg).module, SubModule::DinoHead);
    assert_eq!(param_group("blocks.1.attn.proj.weight", l, &cfg).module, SubModule::Backbone);
    assert_eq!(layer_id("blocks.11.attn.proj.weight", 12), 12);
    // ssl_default_config.yaml: decay 0.9
    let g = param_group(
        "blocks.0.attn.qkv.weight",
        24,
        &ParamGroupConfig { layerwise_decay: 0.9, ..cfg },
    );
    assert!((g.lr_multiplier - 0.9f64.powi(24)).abs() < 1e-15);
}

#[test]
fn applying_schedule_values_and_fusing() {
    let cfg = ParamGroupConfig::default();
    let g = param_group("dino_head.last_layer.weight", 24, &cfg);
    assert_eq!(g.apply(1e-3, 0.0, 0.04), (0.0, 0.04)); // frozen
    let g = param_group("blocks.23.attn.qkv.bias", 24, &cfg);
    let (lr, wd) = g.apply(1e-3, 0.0, 0.04);
    assert!((lr - 0.98e-3).abs() < 1e-18 && wd == 0.0);
    let names = [
        "blocks.0.attn.qkv.weight",
        "blocks.0.mlp.fc1.weight",
        "blocks.0.norm1.weight",
        "blocks.0.attn.qkv.bias",
        "dino_head.last_layer.weight",
        "ibot_head.last_layer.weight",
        "dino_head.mlp.0.weight",
    ];
    let fused = fuse_param_groups(names, 2, &cfg);
    assert_eq!(fused.len(), 4);
    assert_eq!(fused[0].names, ["blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight"]);
    assert_eq!(fused[1].names, ["blocks.0.attn.qkv.bias", "blocks.0.norm1.weight"]);
    assert!(fused[2].is_last_layer && fused[2].names.len() == 2);
    assert_eq!(fused[3].names, ["dino_head.mlp.0.weight"]);
}
