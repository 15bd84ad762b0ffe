// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// A token shaped like mainnet USDT for the indexer's tests: the
/// constructor credits the owner without any event, `issue` and `redeem`
/// change the owner's balance with only an `Issue` or `Redeem` event,
/// `destroyBlackFunds` wipes a frozen holder's balance with only a
/// `DestroyedBlackFunds` event, and the freeze events carry the holder in
/// their data rather than in a topic.
contract TetherLike {
    string public name;
    string public symbol;
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    address public owner;
    mapping(address => uint256) private balances;
    mapping(address => bool) public isBlackListed;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Issue(uint256 amount);
    event Redeem(uint256 amount);
    event DestroyedBlackFunds(address _blackListedUser, uint256 _balance);
    event AddedBlackList(address _user);
    event RemovedBlackList(address _user);

    modifier onlyOwner() {
        require(msg.sender == owner, "owner");
        _;
    }

    constructor(uint256 supply, string memory name_, string memory symbol_) {
        owner = msg.sender;
        name = name_;
        symbol = symbol_;
        totalSupply = supply;
        balances[msg.sender] = supply;
    }

    function balanceOf(address who) external view returns (uint256) {
        return balances[who];
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!isBlackListed[msg.sender], "frozen");
        require(balances[msg.sender] >= value, "balance");
        balances[msg.sender] -= value;
        balances[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    /// New units for the owner.
    function issue(uint256 amount) external onlyOwner {
        balances[owner] += amount;
        totalSupply += amount;
        emit Issue(amount);
    }

    /// Destroys units of the owner.
    function redeem(uint256 amount) external onlyOwner {
        require(balances[owner] >= amount, "balance");
        balances[owner] -= amount;
        totalSupply -= amount;
        emit Redeem(amount);
    }

    function addBlackList(address user) external onlyOwner {
        isBlackListed[user] = true;
        emit AddedBlackList(user);
    }

    function removeBlackList(address user) external onlyOwner {
        isBlackListed[user] = false;
        emit RemovedBlackList(user);
    }

    /// Wipes the whole balance of a frozen holder.
    function destroyBlackFunds(address user) external onlyOwner {
        require(isBlackListed[user], "not frozen");
        uint256 funds = balances[user];
        balances[user] = 0;
        totalSupply -= funds;
        emit DestroyedBlackFunds(user, funds);
    }
}
